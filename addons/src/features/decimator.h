// 48 kHz -> 16 kHz decimator for the VAD and the log-mel extractor: a linear-phase low-pass FIR
// (windowed sinc, cut at 7.2 kHz, Blackman window) evaluated only at every third sample.
// Sized at construction; process() is allocation-free and keeps its phase across calls, so any
// block size works.
#pragma once
#include <cstddef>
#include <vector>

namespace features {

class Decimator48to16 {
 public:
  static constexpr int kFactor = 3;
  static constexpr int kTaps = 63;

  Decimator48to16();
  // Reads n input samples, writes at most maxOut output samples; returns how many were written
  // (about n / 3). Never allocates.
  size_t process(const float* in, size_t n, float* out, size_t maxOut) noexcept;
  void reset() noexcept;

 private:
  std::vector<float> taps_;
  std::vector<float> history_;  // circular, 2 * kTaps so a window is always contiguous
  size_t pos_ = 0;
  int phase_ = 0;
};

}  // namespace features
