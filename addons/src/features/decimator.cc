#include "features/decimator.h"

#include <cmath>

namespace features {

Decimator48to16::Decimator48to16() : taps_(kTaps), history_(2 * kTaps, 0.0f) {
  const double pi = 3.14159265358979323846;
  const double fc = 7200.0 / 48000.0;  // normalised cut-off
  const int mid = kTaps / 2;
  double sum = 0;
  std::vector<double> h(kTaps);
  for (int i = 0; i < kTaps; ++i) {
    const int k = i - mid;
    const double sinc = k == 0 ? 2 * fc : std::sin(2 * pi * fc * k) / (pi * k);
    const double w = 0.42 - 0.5 * std::cos(2 * pi * i / (kTaps - 1)) + 0.08 * std::cos(4 * pi * i / (kTaps - 1));
    h[i] = sinc * w;
    sum += h[i];
  }
  for (int i = 0; i < kTaps; ++i) taps_[i] = static_cast<float>(h[i] / sum);  // unity gain at DC
}

void Decimator48to16::reset() noexcept {
  for (auto& v : history_) v = 0.0f;
  pos_ = 0;
  phase_ = 0;
}

size_t Decimator48to16::process(const float* in, size_t n, float* out, size_t maxOut) noexcept {
  size_t written = 0;
  for (size_t i = 0; i < n; ++i) {
    // Write each sample twice so the last kTaps samples are contiguous at history_[pos_ + 1 ..].
    history_[pos_] = in[i];
    history_[pos_ + kTaps] = in[i];
    pos_ = (pos_ + 1) % kTaps;
    if (++phase_ == kFactor) {
      phase_ = 0;
      if (written < maxOut) {
        const float* w = &history_[pos_];  // oldest .. newest
        float acc = 0.0f;
        for (int k = 0; k < kTaps; ++k) acc += taps_[kTaps - 1 - k] * w[k];
        out[written++] = acc;
      }
    }
  }
  return written;
}

}  // namespace features
