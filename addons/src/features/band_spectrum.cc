#include "features/band_spectrum.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace features {

BandSpectrum::BandSpectrum(double sampleRate, double averageSeconds, size_t skipSamples)
    : fft_(kFft), window_(kFft), buf_(kFft, 0.0f), frame_(kFft, 0.0f), spec_(kFft / 2 + 1), lo_(kBands), hi_(kBands), mean_(kBands, -120.0f),
      var_(kBands, 0.0f), skipSamples_(skipSamples), skip_(skipSamples) {
  const double pi = 3.14159265358979323846;
  for (int i = 0; i < kFft; ++i) window_[i] = static_cast<float>(0.5 - 0.5 * std::cos(2 * pi * i / kFft));
  const double fmin = 31.5, fmax = 16000.0, df = sampleRate / kFft;
  for (int b = 0; b < kBands; ++b) {
    const double e0 = fmin * std::pow(fmax / fmin, static_cast<double>(b) / kBands);
    const double e1 = fmin * std::pow(fmax / fmin, static_cast<double>(b + 1) / kBands);
    int lo = static_cast<int>(std::ceil(e0 / df));
    int hi = static_cast<int>(std::ceil(e1 / df));
    if (hi <= lo) {  // narrower than a bin: use the bin nearest the band centre
      lo = static_cast<int>(std::lround(std::sqrt(e0 * e1) / df));
      hi = lo + 1;
    }
    if (hi > kFft / 2 + 1) hi = kFft / 2 + 1;
    lo_[b] = lo;
    hi_[b] = hi;
  }
  const double framesPerSecond = sampleRate / kHop;
  alpha_ = static_cast<float>(1.0 - std::exp(-1.0 / (averageSeconds * framesPerSecond)));
}

void BandSpectrum::reset() noexcept {
  for (auto& v : buf_) v = 0.0f;
  for (auto& v : mean_) v = -120.0f;
  for (auto& v : var_) v = 0.0f;
  fill_ = 0;
  skip_ = skipSamples_;
  frames_ = 0;
}

size_t BandSpectrum::push(const float* in, size_t n) noexcept {
  size_t made = 0;
  const size_t skipped = skip_ < n ? skip_ : n;
  skip_ -= skipped;
  // Whole runs up to the next full frame at a time (a copy, not a branch per sample).
  for (size_t i = skipped; i < n;) {
    const size_t take = std::min(n - i, static_cast<size_t>(kFft) - fill_);
    std::memcpy(&buf_[fill_], in + i, sizeof(float) * take);
    fill_ += take;
    i += take;
    if (fill_ == static_cast<size_t>(kFft)) {
      analyse();
      ++made;
      std::memmove(buf_.data(), buf_.data() + kHop, sizeof(float) * (kFft - kHop));
      fill_ = kFft - kHop;
    }
  }
  return made;
}

void BandSpectrum::analyse() noexcept {
  for (int i = 0; i < kFft; ++i) frame_[i] = buf_[i] * window_[i];
  fft_.forward(frame_.data(), spec_.data());
  // The first frame seeds the average so a start-up does not read as a huge deviation.
  const float a = frames_ == 0 ? 1.0f : alpha_;
  for (int b = 0; b < kBands; ++b) {
    double p = 0;
    for (int k = lo_[b]; k < hi_[b]; ++k) p += std::norm(spec_[k]) / kFft;
    const float level = static_cast<float>(10.0 * std::log10(p / (hi_[b] - lo_[b]) + 1e-12));
    const float d = level - mean_[b];
    mean_[b] += a * d;
    var_[b] = (1.0f - a) * (var_[b] + a * d * d);
  }
  ++frames_;
}

void BandSpectrum::snapshot(float* out) const noexcept {
  for (int b = 0; b < kBands; ++b) {
    out[b] = mean_[b];
    out[kBands + b] = std::sqrt(var_[b]);
  }
}

}  // namespace features
