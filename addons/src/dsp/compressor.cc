#include "dsp/compressor.h"

#include <algorithm>
#include <cmath>

namespace dsp {

namespace {
constexpr double kMakeupGlideMs = 10;
double coef(double ms, double fs) { return ms <= 0 ? 0.0 : std::exp(-1.0 / (ms * 1e-3 * fs)); }
}  // namespace

struct Compressor::Impl {
  double fs;
  CompressorParams p;
  double slope = 0.75;          // 1 - 1/ratio
  double kneeStart = 0;         // linear level where the knee begins (no reduction below)
  double aA = 0, aR = 0, aM = 0;
  double y1 = 0, y = 0;         // smooth decoupled peak detector on the reduction, dB >= 0
  double makeup = 0;            // dB, gliding toward p.makeupDb (or 0 when disabled)
  float lastGr = 0;

  // Static curve: reduction in dB (>= 0) for an input level in dB.
  double reduction(double xl) const {
    const double T = p.thresholdDb, W = std::max(p.kneeDb, 0.0), over = xl - T;
    if (W > 0 && 2 * over > -W && 2 * over < W) {
      const double d = over + W / 2;
      return slope * d * d / (2 * W);
    }
    return over > 0 ? slope * over : 0.0;
  }
};

Compressor::Compressor(double sampleRate) : impl_(new Impl) {
  impl_->fs = sampleRate;
  impl_->aM = coef(kMakeupGlideMs, sampleRate);
  setParams(CompressorParams{});
}
Compressor::~Compressor() = default;
Compressor::Compressor(Compressor&&) noexcept = default;
Compressor& Compressor::operator=(Compressor&&) noexcept = default;

void Compressor::setParams(const CompressorParams& p) noexcept {
  Impl& s = *impl_;
  s.p = p;
  if (!std::isfinite(s.p.ratio) || s.p.ratio >= 1000) s.slope = 1.0;
  else s.slope = 1.0 - 1.0 / std::max(s.p.ratio, 1.0);
  s.kneeStart = std::pow(10.0, (s.p.thresholdDb - std::max(s.p.kneeDb, 0.0) / 2) / 20.0);
  if (!std::isfinite(s.kneeStart)) s.kneeStart = 0;
  s.aA = coef(std::max(p.attackMs, 0.0), s.fs);
  s.aR = coef(std::max(p.releaseMs, 0.0), s.fs);
}

void Compressor::process(float* x, int n) noexcept {
  Impl& s = *impl_;
  const bool on = s.p.enabled;
  const double makeupTarget = on ? s.p.makeupDb : 0.0;
  double y1 = s.y1, y = s.y, mk = s.makeup, peak = 0;
  constexpr double kDbToLn = 0.11512925464970229;  // ln(10) / 20
  for (int i = 0; i < n; i++) {
    const double in = x[i];
    // Below the knee there is no reduction: skip the logarithm there (most samples).
    const double mag = std::fabs(in);
    const double c = on && !(mag <= s.kneeStart) ? s.reduction(20.0 * std::log10(mag + 1e-12)) : 0.0;
    y1 = std::max(c, s.aR * y1 + (1 - s.aR) * c);
    y = s.aA * y + (1 - s.aA) * y1;
    mk = s.aM * mk + (1 - s.aM) * makeupTarget;
    peak = std::max(peak, y);
    const double gDb = mk - y;
    x[i] = gDb == 0.0 ? x[i] : static_cast<float>(in * std::exp(gDb * kDbToLn));
  }
  // Below 1e-9 dB, or non-finite after a non-finite input: back to rest.
  if (!(y >= 1e-9) || !std::isfinite(y)) y = 0;
  if (!(y1 >= 1e-9) || !std::isfinite(y1)) y1 = 0;
  if (std::fabs(mk - makeupTarget) < 1e-9) mk = makeupTarget;
  s.y1 = y1, s.y = y, s.makeup = mk;
  s.lastGr = static_cast<float>(peak);
}

float Compressor::gainReductionDb() const noexcept { return impl_->lastGr; }

void Compressor::reset() noexcept {
  impl_->y1 = impl_->y = 0;
  impl_->makeup = impl_->p.enabled ? impl_->p.makeupDb : 0.0;
  impl_->lastGr = 0;
}

}  // namespace dsp
