#pragma GCC optimize("O3")
#include "dsp/room_path.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace dsp {

RoomPath::RoomPath(double sampleRate, const RoomSpec& room, double gainDb, int maxBlock)
    : gain_(static_cast<float>(std::pow(10.0, gainDb / 20))), maxBlock_(maxBlock), band_(sampleRate, 2) {
  RoomResponse r = buildRoomResponse(sampleRate, room);
  if (r.minDelay < maxBlock) {
    throw std::invalid_argument("the room's direct path (" + std::to_string(r.minDelay) + " samples) is shorter than a block (" + std::to_string(maxBlock) +
                                " samples): move the loudspeaker and the microphone apart or use smaller blocks");
  }
  delay_ = std::move(r.delay);
  tap_ = std::move(r.gain);
  minDelay_ = r.minDelay;
  criticalHz_ = r.criticalHz;
  len_ = static_cast<int>(r.h.size());
  hist_.assign(static_cast<size_t>(len_) + kSlack + static_cast<size_t>(maxBlock), 0.0f);
  w_ = static_cast<uint32_t>(len_);
  band_.setBand(0, BandParams{BandType::HighPass, kPaHighPassHz, 0.0, 0.7071, true});
  band_.setBand(1, BandParams{BandType::LowPass, kPaLowPassHz, 0.0, 0.7071, true});
  band_.reset();
}

void RoomPath::feed(const float* out, int n) noexcept {
  n = std::min(n, maxBlock_);
  if (w_ + static_cast<uint32_t>(n) > hist_.size()) {
    std::copy(hist_.begin() + (w_ - len_), hist_.begin() + w_, hist_.begin());
    w_ = static_cast<uint32_t>(len_);
  }
  float* h = hist_.data() + w_;
  for (int i = 0; i < n; ++i) h[i] = gain_ * out[i];
  band_.process(h, n);
  for (int i = 0; i < n; ++i) h[i] = std::tanh(h[i]);
  w_ += static_cast<uint32_t>(n);
}

void RoomPath::render(float* in, int n) noexcept {
  n = std::min(n, maxBlock_);
  for (int i = 0; i < n; ++i) in[i] = 0.0f;
  // Input sample i of this block is heard at the time of loudspeaker sample w_ + i; every tap is at
  // least maxBlock long, so w_ + i - delay < w_: only samples already fed.
  const size_t taps = delay_.size();
  for (size_t t = 0; t < taps; ++t) {
    const float a = tap_[t];
    const float* h = hist_.data() + w_ - delay_[t];
    for (int i = 0; i < n; ++i) in[i] += a * h[i];
  }
}

}  // namespace dsp
