#include "dsp/biquad.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include "dsp/geometry.h"

namespace dsp {

BiquadCoeffs designBiquad(const BandParams& p, double sampleRate) {
  const double f = std::clamp(p.freqHz, 1.0, 0.49 * sampleRate);
  const double q = std::max(p.q, 0.05);
  const double A = std::pow(10.0, p.gainDb / 40.0);
  const double w0 = 2 * kPi * f / sampleRate;
  const double cw = std::cos(w0), alpha = std::sin(w0) / (2 * q);
  const double sA = std::sqrt(A);
  double b0 = 1, b1 = 0, b2 = 0, a0 = 1, a1 = 0, a2 = 0;
  switch (p.type) {
    case BandType::Peak:
      b0 = 1 + alpha * A, b1 = -2 * cw, b2 = 1 - alpha * A;
      a0 = 1 + alpha / A, a1 = -2 * cw, a2 = 1 - alpha / A;
      break;
    case BandType::LowShelf:
      b0 = A * ((A + 1) - (A - 1) * cw + 2 * sA * alpha);
      b1 = 2 * A * ((A - 1) - (A + 1) * cw);
      b2 = A * ((A + 1) - (A - 1) * cw - 2 * sA * alpha);
      a0 = (A + 1) + (A - 1) * cw + 2 * sA * alpha;
      a1 = -2 * ((A - 1) + (A + 1) * cw);
      a2 = (A + 1) + (A - 1) * cw - 2 * sA * alpha;
      break;
    case BandType::HighShelf:
      b0 = A * ((A + 1) + (A - 1) * cw + 2 * sA * alpha);
      b1 = -2 * A * ((A - 1) + (A + 1) * cw);
      b2 = A * ((A + 1) + (A - 1) * cw - 2 * sA * alpha);
      a0 = (A + 1) - (A - 1) * cw + 2 * sA * alpha;
      a1 = 2 * ((A - 1) - (A + 1) * cw);
      a2 = (A + 1) - (A - 1) * cw - 2 * sA * alpha;
      break;
    case BandType::HighPass:
      b0 = (1 + cw) / 2, b1 = -(1 + cw), b2 = (1 + cw) / 2;
      a0 = 1 + alpha, a1 = -2 * cw, a2 = 1 - alpha;
      break;
    case BandType::LowPass:
      b0 = (1 - cw) / 2, b1 = 1 - cw, b2 = (1 - cw) / 2;
      a0 = 1 + alpha, a1 = -2 * cw, a2 = 1 - alpha;
      break;
  }
  return {b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0};
}

double magnitudeDb(const BiquadCoeffs& c, double freqHz, double sampleRate) {
  const double w = 2 * kPi * freqHz / sampleRate;
  const std::complex<double> z1 = std::polar(1.0, -w), z2 = z1 * z1;
  const auto num = c.b0 + c.b1 * z1 + c.b2 * z2;
  const auto den = 1.0 + c.a1 * z1 + c.a2 * z2;
  return 20 * std::log10(std::abs(num) / std::abs(den));
}

namespace {
constexpr int kChunk = 16;        // coefficients are recomputed at most every kChunk samples
constexpr double kGlideMs = 8;    // one-pole time constant of parameter glides (95% in ~24 ms)
constexpr double kFadeMs = 10;    // linear crossfade when a band is switched in or out

struct Band {
  BandParams target;
  // log(freqHz) and log(q) of the target, clamped as below, taken once in setBand: the glide and
  // the out-of-band check compared against them every 16 samples of every band (two `log` calls
  // each, about a tenth of an offline run's audio thread).
  double tLogF = std::log(1000.0), tLogQ = std::log(0.7071);
  BandType type = BandType::Peak;     // type currently running
  double logF = std::log(1000.0), gainDb = 0, logQ = std::log(0.7071);  // current, gliding
  double wet = 0;                      // 0 = band bypassed, 1 = fully in
  BiquadCoeffs c;
  double s1 = 0, s2 = 0;               // transposed direct form II state
  bool dirty = true;                   // coefficients need a redesign
};
}  // namespace

struct ParametricEq::Impl {
  double fs;
  std::vector<Band> bands;
  double glideK, fadeStep;

  void snap(Band& b) {
    b.type = b.target.type;
    b.logF = b.tLogF;
    b.gainDb = b.target.gainDb;
    b.logQ = b.tLogQ;
    b.s1 = b.s2 = 0;
    b.dirty = true;
  }
  void design(Band& b) {
    BandParams p;
    p.type = b.type, p.freqHz = std::exp(b.logF), p.gainDb = b.gainDb, p.q = std::exp(b.logQ);
    b.c = designBiquad(p, fs);
    b.dirty = false;
  }
  bool differs(const Band& b) const {
    return b.type != b.target.type || b.logF != b.tLogF || b.gainDb != b.target.gainDb || b.logQ != b.tLogQ;
  }
  // Moves a band's running parameters one chunk toward its target; true if it had to move.
  bool glide(Band& b) {
    const double tf = b.tLogF, tg = b.target.gainDb, tq = b.tLogQ;
    const double df = tf - b.logF, dg = tg - b.gainDb, dq = tq - b.logQ;
    if (df == 0 && dg == 0 && dq == 0) return false;
    if (std::fabs(df) < 1e-4 && std::fabs(dg) < 1e-3 && std::fabs(dq) < 1e-4) {
      b.logF = tf, b.gainDb = tg, b.logQ = tq;
    } else {
      b.logF += glideK * df, b.gainDb += glideK * dg, b.logQ += glideK * dq;
    }
    return true;
  }
};

ParametricEq::ParametricEq(double sampleRate, int bands) : impl_(new Impl) {
  impl_->fs = sampleRate;
  impl_->bands.resize(static_cast<size_t>(std::max(bands, 0)));
  impl_->glideK = 1 - std::exp(-kChunk / (kGlideMs * 1e-3 * sampleRate));
  impl_->fadeStep = 1.0 / (kFadeMs * 1e-3 * sampleRate);
  for (auto& b : impl_->bands) impl_->design(b);
}
ParametricEq::~ParametricEq() = default;
ParametricEq::ParametricEq(ParametricEq&&) noexcept = default;
ParametricEq& ParametricEq::operator=(ParametricEq&&) noexcept = default;

int ParametricEq::bands() const noexcept { return static_cast<int>(impl_->bands.size()); }

void ParametricEq::setBand(int i, const BandParams& p) noexcept {
  if (i < 0 || i >= bands()) return;
  if (!std::isfinite(p.freqHz) || !std::isfinite(p.gainDb) || !std::isfinite(p.q)) return;
  Band& b = impl_->bands[static_cast<size_t>(i)];
  b.target = p;
  b.tLogF = std::log(std::max(p.freqHz, 1.0));
  b.tLogQ = std::log(std::max(p.q, 0.05));
}

void ParametricEq::reset() noexcept {
  for (auto& b : impl_->bands) {
    impl_->snap(b);
    impl_->design(b);
    b.wet = b.target.enabled ? 1 : 0;
  }
}

void ParametricEq::process(float* x, int n) noexcept {
  Impl& s = *impl_;
  for (int start = 0; start < n; start += kChunk) {
    const int len = std::min(kChunk, n - start);
    float* p = x + start;
    for (auto& b : s.bands) {
      // A band that is out and stays out costs nothing (most of the 32 notch slots, most of the
      // time); its parameters are caught up below once it is enabled.
      if (b.wet <= 0 && !b.target.enabled) continue;
      // A band that is out (wet 0) jumps straight to its target: nothing audible to glide.
      if (b.wet <= 0 && s.differs(b)) {
        s.snap(b);
        s.design(b);
      }
      const double wetTarget = (b.target.enabled && b.target.type == b.type) ? 1.0 : 0.0;
      if (b.wet <= 0 && wetTarget <= 0) continue;
      if (b.type == b.target.type && s.glide(b)) b.dirty = true;
      if (b.dirty) s.design(b);
      const BiquadCoeffs c = b.c;
      double s1 = b.s1, s2 = b.s2, wet = b.wet;
      const double step = wetTarget > wet ? s.fadeStep : -s.fadeStep;
      const bool fading = wet != wetTarget;
      for (int i = 0; i < len; i++) {
        const double in = p[i];
        const double y = c.b0 * in + s1;
        s1 = c.b1 * in - c.a1 * y + s2;
        s2 = c.b2 * in - c.a2 * y;
        if (fading) {
          wet = std::clamp(wet + step, 0.0, 1.0);
          p[i] = static_cast<float>(in + wet * (y - in));
        } else {
          p[i] = static_cast<float>(y);
        }
      }
      // Denormal guard: a decaying state far below audibility is flushed to zero. A state made
      // non-finite by a non-finite input is cleared, or the band would stay silent (NaN) forever.
      if (!(std::fabs(s1) >= 1e-30) || !std::isfinite(s1)) s1 = 0;
      if (!(std::fabs(s2) >= 1e-30) || !std::isfinite(s2)) s2 = 0;
      b.s1 = s1, b.s2 = s2, b.wet = wet;
      if (b.wet <= 0) b.s1 = b.s2 = 0;
    }
  }
}

}  // namespace dsp
