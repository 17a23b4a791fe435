// Overlapping analysis frames from a multichannel stream, for the localisers (doa.cc, ssl.cc).
//
// Invariants:
//   - `fifo` holds `channels` planes of `frameSize` samples, plane c at c * frameSize;
//   - `filled` samples of each plane are valid (0 <= filled < frameSize between calls);
//   - `analyse()` is called each time a whole frame is there, then the planes move on by `hop`.
// Real-time safe: no allocation, no lock; `analyse` must be too.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace dsp {

template <class Analyse>
inline void pushHopped(float* fifo, int channels, int frameSize, int hop, int& filled, const float* const* in, int frames, Analyse&& analyse) noexcept {
  int done = 0;
  while (done < frames) {
    const int take = std::min(frames - done, frameSize - filled);
    for (int c = 0; c < channels; c++) std::memcpy(&fifo[static_cast<size_t>(c) * frameSize + filled], in[c] + done, sizeof(float) * take);
    filled += take;
    done += take;
    if (filled == frameSize) {
      analyse();
      for (int c = 0; c < channels; c++) {
        float* f = &fifo[static_cast<size_t>(c) * frameSize];
        std::memmove(f, f + hop, sizeof(float) * (frameSize - hop));
      }
      filled = frameSize - hop;
    }
  }
}

}  // namespace dsp
