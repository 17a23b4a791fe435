// Log-mel frames at 16 kHz, the classifier's input. The definition is models/features.py's:
// 400-sample periodic Hann window, hop 160, 512-point FFT, power |X|^2 / 512, 40 HTK-mel
// triangles from 50 to 7600 Hz, ln(energy + 1e-8). Sized at construction; push() never allocates.
#pragma once
#include <complex>
#include <cstddef>
#include <vector>

#include "dsp/fft.h"

namespace features {

class LogMel {
 public:
  static constexpr int kFrame = 400;
  static constexpr int kHop = 160;
  static constexpr int kFft = 512;
  static constexpr int kMels = 40;

  LogMel();
  // Feeds n samples; writes each completed frame (kMels floats) to out, at most maxFrames of them;
  // returns the number of frames written. Frames beyond maxFrames are dropped (and counted).
  size_t push(const float* in, size_t n, float* out, size_t maxFrames) noexcept;
  void reset() noexcept;
  unsigned long long droppedFrames() const { return dropped_; }

 private:
  void computeFrame(float* out) noexcept;

  dsp::BasicRealFft<float> fft_;
  std::vector<float> window_;
  std::vector<float> buf_;  // last kFrame samples, linear (shifted by kHop after each frame)
  std::vector<float> frame_;  // windowed and zero-padded to kFft
  std::vector<std::complex<float>> spec_;
  std::vector<float> power_;
  // Sparse filterbank: per mel band, first bin and weights.
  std::vector<int> first_;
  std::vector<std::vector<float>> weights_;
  size_t fill_ = 0;
  unsigned long long dropped_ = 0;
};

}  // namespace features
