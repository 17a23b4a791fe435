#include "dsp/fractional_delay.h"

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

}  // namespace dsp
