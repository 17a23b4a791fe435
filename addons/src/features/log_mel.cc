#include "features/log_mel.h"

#include <cmath>

namespace features {

namespace {
double hzToMel(double f) { return 2595.0 * std::log10(1.0 + f / 700.0); }
double melToHz(double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); }
}  // namespace

LogMel::LogMel()
    : fft_(kFft), window_(kFrame), buf_(kFrame, 0.0f), frame_(kFft, 0.0f), spec_(kFft / 2 + 1), power_(kFft / 2 + 1), first_(kMels), weights_(kMels) {
  const double pi = 3.14159265358979323846;
  for (int i = 0; i < kFrame; ++i) window_[i] = static_cast<float>(0.5 - 0.5 * std::cos(2 * pi * i / kFrame));
  const double sr = 16000.0, lo = hzToMel(50.0), hi = hzToMel(7600.0);
  std::vector<double> edges(kMels + 2);
  for (int i = 0; i < kMels + 2; ++i) edges[i] = melToHz(lo + (hi - lo) * i / (kMels + 1));
  for (int m = 0; m < kMels; ++m) {
    first_[m] = -1;
    for (int k = 0; k <= kFft / 2; ++k) {
      const double f = k * sr / kFft;
      const double up = (f - edges[m]) / (edges[m + 1] - edges[m]);
      const double down = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1]);
      const double w = std::fmax(0.0, std::fmin(up, down));
      if (w > 0) {
        if (first_[m] < 0) first_[m] = k;
        weights_[m].resize(k - first_[m] + 1, 0.0f);
        weights_[m][k - first_[m]] = static_cast<float>(w);
      }
    }
    if (first_[m] < 0) first_[m] = 0;
  }
}

void LogMel::reset() noexcept {
  for (auto& v : buf_) v = 0.0f;
  fill_ = 0;
}

size_t LogMel::push(const float* in, size_t n, float* out, size_t maxFrames) noexcept {
  size_t frames = 0;
  for (size_t i = 0; i < n; ++i) {
    buf_[fill_++] = in[i];
    if (fill_ == static_cast<size_t>(kFrame)) {
      if (frames < maxFrames) {
        computeFrame(out + frames * kMels);
        ++frames;
      } else {
        ++dropped_;
      }
      // Keep the last kFrame - kHop samples for the next, overlapping frame.
      for (int k = 0; k < kFrame - kHop; ++k) buf_[k] = buf_[k + kHop];
      fill_ = kFrame - kHop;
    }
  }
  return frames;
}

void LogMel::computeFrame(float* out) noexcept {
  for (int i = 0; i < kFrame; ++i) frame_[i] = buf_[i] * window_[i];  // the rest stays zero
  fft_.forward(frame_.data(), spec_.data());
  for (int k = 0; k <= kFft / 2; ++k) power_[k] = std::norm(spec_[k]) / kFft;
  for (int m = 0; m < kMels; ++m) {
    double e = 0;
    const auto& w = weights_[m];
    for (size_t j = 0; j < w.size(); ++j) e += static_cast<double>(w[j]) * power_[first_[m] + j];
    out[m] = static_cast<float>(std::log(e + 1e-8));
  }
}

}  // namespace features
