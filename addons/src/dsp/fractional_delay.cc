#include "dsp/fractional_delay.h"

#include <algorithm>
#include <cmath>

#include "dsp/geometry.h"

namespace dsp {

double besselI0(double x) noexcept {
  double sum = 1, term = 1;
  const double q = x * x / 4;
  for (int k = 1; k < 50; k++) {
    term *= q / (static_cast<double>(k) * k);
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

void fractionalDelayTaps(double frac, int len, double kaiserBeta, float* h) noexcept {
  const double centre = len / 2 - 1 + frac, halfWidth = len / 2.0, i0b = besselI0(kaiserBeta);
  double sum = 0;
  double tmp[256];
  const int n = len > 256 ? 256 : len;
  for (int k = 0; k < n; k++) {
    const double t = k - centre;
    const double sinc = std::fabs(t) < 1e-12 ? 1.0 : std::sin(kPi * t) / (kPi * t);
    const double r = t / halfWidth;
    const double w = r * r >= 1 ? 0.0 : besselI0(kaiserBeta * std::sqrt(1 - r * r)) / i0b;
    tmp[k] = sinc * w;
    sum += tmp[k];
  }
  for (int k = 0; k < n; k++) h[k] = static_cast<float>(tmp[k] / sum);
}

FractionalDelayTable::FractionalDelayTable(int len, double kaiserBeta, int steps)
    : len_(std::clamp(len, 2, 256)), steps_(std::max(steps, 1)) {
  rows_.assign(static_cast<size_t>(steps_ + 1) * static_cast<size_t>(len_), 0.f);
  for (int i = 0; i <= steps_; i++)
    fractionalDelayTaps(static_cast<double>(i) / steps_, len_, kaiserBeta, &rows_[static_cast<size_t>(i) * len_]);
}

void FractionalDelayTable::taps(double frac, float* h) const noexcept {
  // NaN and out-of-range fractions land on the nearest end row (never outside the table).
  const double pos = std::isfinite(frac) ? std::clamp(frac, 0.0, 1.0) * steps_ : 0.0;
  const int i = std::min(static_cast<int>(pos), steps_ - 1);
  const float t = static_cast<float>(pos - i);
  const float* a = &rows_[static_cast<size_t>(i) * len_];
  const float* b = a + len_;
  for (int k = 0; k < len_; k++) h[k] = a[k] + t * (b[k] - a[k]);
}

}  // namespace dsp
