// The correlation and search loops are the DOA's whole cost; let GCC vectorise them.
#pragma GCC optimize("O3")
#include "dsp/doa.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "dsp/fft.h"

namespace dsp {

namespace {
constexpr double kBandLoHz = 200, kBandHiHz = 8000;  // PHAT band: where voices and instruments live
// GCC lag spacing: half a sample, or a whole sample for 2D/3D arrays whose aperture spans 20
// samples or more, where interpolating between whole-sample lags is already exact to 0.02 deg
// (measured; on a 10 cm ring it would bias by 0.17 deg) and the correlation costs half. Linear
// arrays keep half samples: near endfire a small lag error is a large angle error.
double lagStepFor(double apertureSamples, bool linear) { return !linear && apertureSamples >= 20 ? 1.0 : 0.5; }
// Every second bin of the band: Hann-windowed neighbours are strongly correlated, so skipping
// them halves the correlation cost for a negligible loss (docs/dsp.md has the figures).
constexpr int kBinStride = 2;
// PHAT exponent: 1 whitens fully (classic SRP-PHAT). Values down to 0.6 were measured and made
// no difference on speech-like sources at 0 dB SNR (docs/dsp.md), so the cheap classic form stays.
constexpr double kBeta = 1.0;
// Pair correlations are averaged across hops (one pole, 0.7: about 3 hops, 30 ms at frame 1024
// and 48 kHz). At 0 dB SNR this halves the median error (docs/dsp.md); a new source takes over
// within a few hops.
constexpr float kSmoothing = 0.7f;
constexpr double kSilence = 1e-10;                    // mean square below this: no estimate (-100 dBFS)
double deg(double rad) { return rad * 180.0 / kPi; }
double wrap360(double a) {
  a = std::fmod(a, 360.0);
  return a < 0 ? a + 360.0 : a;
}
}  // namespace

struct SrpPhatDoa::Impl {
  std::vector<Vec3> mics;
  ArrayLayout lay;
  double fs;
  int n, hop, m, kLo, kHi, nk, nLags;
  double lag0;     // lag (samples) of corr index 0
  double lagStep;  // samples between corr indices
  RealFft fft;
  std::vector<double> win, fifo, frame;
  std::vector<cplx> spec;
  std::vector<float> xr, xi, xm, cosT, sinT;
  std::vector<float> raw, corr;  // this hop's pair correlations, and their average over hops
  bool primed = false;
  std::vector<std::pair<int, int>> pairs;
  std::vector<int> pairLo, pairHi;  // corr index range each pair computes
  std::vector<double> lead;  // per mic, samples, scratch
  // Coarse grid: directions and, per direction and pair, the position in corr.
  std::vector<double> gridA, gridE;
  std::vector<int32_t> gridIdx;
  std::vector<float> gridFrac;
  double azStep = 4, elStep = 20, elLo = 0, elHi = 0;
  int filled = 0;
  DoaResult result{0, 0, 0, false};
  bool fresh = false;

  Impl(const Geometry& g, int frameSize, int hopSize)
      : mics(g.mics), lay(describeLayout(g)), fs(g.sampleRate), n(nextPow2(std::max(frameSize, 64))),
        hop(hopSize <= 0 ? n / 2 : std::min(hopSize, n)), m(static_cast<int>(g.mics.size())), fft(n) {
    win.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) win[static_cast<size_t>(i)] = 0.5 - 0.5 * std::cos(2 * kPi * i / n);
    fifo.assign(static_cast<size_t>(m) * n, 0.0);
    frame.assign(static_cast<size_t>(n), 0.0);
    spec.assign(static_cast<size_t>(n / 2 + 1), cplx());
    kLo = std::max(1, static_cast<int>(std::ceil(kBandLoHz * n / fs)));
    kHi = std::min(n / 2 - 1, static_cast<int>(std::floor(std::min(kBandHiHz, 0.45 * fs) * n / fs)));
    nk = std::max(0, (kHi - kLo) / kBinStride + 1);
    xr.assign(static_cast<size_t>(m) * nk, 0.f);
    xi.assign(static_cast<size_t>(m) * nk, 0.f);
    xm.assign(static_cast<size_t>(m) * nk, 0.f);
    for (int i = 0; i < m; i++)
      for (int j = i + 1; j < m; j++) pairs.emplace_back(i, j);
    lagStep = lagStepFor(lay.aperture / kSpeedOfSound * fs, lay.shape == ArrayShape::Linear);
    const double maxLag = lay.aperture / kSpeedOfSound * fs + 3;
    const int half = static_cast<int>(std::ceil(maxLag / lagStep));
    nLags = 2 * half + 1;
    lag0 = -half * lagStep;
    cosT.assign(static_cast<size_t>(nLags) * nk, 0.f);
    sinT.assign(static_cast<size_t>(nLags) * nk, 0.f);
    // Laid out bin-major so the inner loop below runs over lags without a reduction (it
    // vectorises).
    for (int k = 0; k < nk; k++)
      for (int l = 0; l < nLags; l++) {
        const double ph = 2 * kPi * (kLo + k * kBinStride) / n * (lag0 + l * lagStep);
        cosT[static_cast<size_t>(k) * nLags + l] = static_cast<float>(std::cos(ph));
        sinT[static_cast<size_t>(k) * nLags + l] = static_cast<float>(std::sin(ph));
      }
    corr.assign(pairs.size() * static_cast<size_t>(nLags), 0.f);
    raw.assign(corr.size(), 0.f);
    // Each pair only needs the lags its own baseline allows (plus a margin for interpolation):
    // short baselines are most of a ring's pairs.
    for (const auto& [i, j] : pairs) {
      const Vec3 a = mics[static_cast<size_t>(i)], b = mics[static_cast<size_t>(j)];
      const Vec3 d{a.x - b.x, a.y - b.y, a.z - b.z};
      const double reach = std::sqrt(dot(d, d)) / kSpeedOfSound * fs + 3;
      const int h = std::min(half, static_cast<int>(std::ceil(reach / lagStep)));
      pairLo.push_back(half - h);
      pairHi.push_back(half + h);
    }
    lead.assign(static_cast<size_t>(m), 0.0);
    // Coarse steps: about a third of the main lobe at the top of the band, 1..4 degrees.
    if (lay.aperture > 0) {
      const double lobe = deg(kSpeedOfSound / (std::min(kBandHiHz, 0.45 * fs) * lay.aperture));
      azStep = std::clamp(lobe / 3, 1.0, 4.0);
    }
    if (lay.shape == ArrayShape::Linear) {
      for (double a = 0; a <= 180.0 + 1e-9; a += 1.0) gridA.push_back(a), gridE.push_back(0);
      azStep = 1, elStep = 0, elLo = elHi = 0;
    } else {
      elLo = (lay.shape == ArrayShape::Planar && lay.horizontal) ? 0 : -90;
      elHi = 90;
      for (double e = elLo; e <= elHi + 1e-9; e += elStep) {
        const double step = std::fabs(e) >= 89.9 ? 360 : azStep;
        for (double a = 0; a < 360 - 1e-9; a += step) gridA.push_back(a), gridE.push_back(e);
      }
    }
    // The coarse search interpolates linearly (the refinement uses Catmull-Rom): each
    // direction's pair delays as a corr index into the flat corr array, and a fraction.
    gridIdx.assign(gridA.size() * pairs.size(), 0);
    gridFrac.assign(gridA.size() * pairs.size(), 0.f);
    for (size_t d = 0; d < gridA.size(); d++) {
      leads(gridA[d], gridE[d]);
      for (size_t p = 0; p < pairs.size(); p++) {
        const double x = std::clamp(pos(p), 0.0, nLags - 2.0);
        const int i = static_cast<int>(x);
        gridIdx[d * pairs.size() + p] = static_cast<int32_t>(p * static_cast<size_t>(nLags) + static_cast<size_t>(i));
        gridFrac[d * pairs.size() + p] = static_cast<float>(x - i);
      }
    }
  }

  // Per-mic lead (samples) for a candidate direction; for a line, az is the angle to its axis.
  void leads(double az, double el) noexcept {
    if (lay.shape == ArrayShape::Linear) {
      const double c = std::cos(az * kPi / 180.0);
      for (int i = 0; i < m; i++) lead[static_cast<size_t>(i)] = dot(mics[static_cast<size_t>(i)], lay.axis) * c / kSpeedOfSound * fs;
    } else {
      const Vec3 d = directionVector(az, el);
      for (int i = 0; i < m; i++) lead[static_cast<size_t>(i)] = leadSeconds(mics[static_cast<size_t>(i)], d) * fs;
    }
  }
  double pos(size_t p) const noexcept {
    const auto [i, j] = pairs[p];
    return (lead[static_cast<size_t>(i)] - lead[static_cast<size_t>(j)] - lag0) / lagStep;
  }
  // Catmull-Rom interpolation of one pair's correlation at a fractional index.
  float at(size_t p, double x) const noexcept {
    const float* c = &corr[p * static_cast<size_t>(nLags)];
    x = std::clamp(x, 1.0, nLags - 3.0);
    const int i = static_cast<int>(x);
    const float t = static_cast<float>(x - i);
    const float p0 = c[i - 1], p1 = c[i], p2 = c[i + 1], p3 = c[i + 2];
    return p1 + 0.5f * t * (p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0)));
  }
  double power(double az, double el) noexcept {
    leads(az, el);
    double s = 0;
    for (size_t p = 0; p < pairs.size(); p++) s += at(p, pos(p));
    return s;
  }

  void analyse() noexcept {
    double energy = 0;
    for (double v : fifo) energy += v * v;
    // Coincident mics (no aperture) carry no direction at all.
    if (pairs.empty() || nk == 0 || lay.shape == ArrayShape::Single || !(energy / fifo.size() >= kSilence) || !std::isfinite(energy)) {
      result = {result.azimuth, result.elevation, 0, false};
      fresh = true;
      primed = false;
      return;
    }
    for (int c = 0; c < m; c++) {
      const double* f = &fifo[static_cast<size_t>(c) * n];
      for (int i = 0; i < n; i++) frame[static_cast<size_t>(i)] = f[i] * win[static_cast<size_t>(i)];
      fft.forward(frame.data(), spec.data());
      for (int k = 0; k < nk; k++) {
        const cplx v = spec[static_cast<size_t>(kLo + k * kBinStride)];
        // PHAT-beta: divide by |X|^beta, so pair products carry |Xi Xj|^(1 - beta) as weight.
        const double mag = std::abs(v);
        const double inv = mag > 1e-20 ? (kBeta == 1.0 ? 1.0 / mag : std::pow(mag, -kBeta)) : 0.0;
        xr[static_cast<size_t>(c) * nk + k] = static_cast<float>(v.real() * inv);
        xi[static_cast<size_t>(c) * nk + k] = static_cast<float>(v.imag() * inv);
        xm[static_cast<size_t>(c) * nk + k] = static_cast<float>(mag * inv);
      }
    }
    for (size_t p = 0; p < pairs.size(); p++) {
      const float* ar = &xr[static_cast<size_t>(pairs[p].first) * nk];
      const float* ai = &xi[static_cast<size_t>(pairs[p].first) * nk];
      const float* br = &xr[static_cast<size_t>(pairs[p].second) * nk];
      const float* bi = &xi[static_cast<size_t>(pairs[p].second) * nk];
      // Normalised so a perfectly coherent pair peaks at 1.
      const float* am = &xm[static_cast<size_t>(pairs[p].first) * nk];
      const float* bm = &xm[static_cast<size_t>(pairs[p].second) * nk];
      float wsum = 0.f;
      for (int k = 0; k < nk; k++) wsum += am[k] * bm[k];
      const float norm = wsum > 0 ? 1.0f / wsum : 0.f;
      const int lo = pairLo[p], cnt = pairHi[p] - lo + 1;
      float* out = &raw[p * static_cast<size_t>(nLags) + static_cast<size_t>(lo)];
      for (int l = 0; l < cnt; l++) out[l] = 0.f;
      for (int k = 0; k < nk; k++) {
        const float g1 = (ar[k] * br[k] + ai[k] * bi[k]) * norm;
        const float g2 = (ai[k] * br[k] - ar[k] * bi[k]) * norm;
        const float* ct = &cosT[static_cast<size_t>(k) * nLags + static_cast<size_t>(lo)];
        const float* st = &sinT[static_cast<size_t>(k) * nLags + static_cast<size_t>(lo)];
        for (int l = 0; l < cnt; l++) out[l] += g1 * ct[l] + g2 * st[l];
      }
    }
    if (!primed) {
      std::copy(raw.begin(), raw.end(), corr.begin());
      primed = true;
    } else {
      for (size_t i = 0; i < corr.size(); i++) corr[i] = kSmoothing * corr[i] + (1 - kSmoothing) * raw[i];
    }
    // Coarse grid, then hill-climb with halving steps.
    size_t best = 0;
    double bestP = -1e300;
    const size_t np = pairs.size();
    const float* c = corr.data();
    for (size_t d = 0; d < gridA.size(); d++) {
      const int32_t* gi = &gridIdx[d * np];
      const float* gf = &gridFrac[d * np];
      float s0 = 0.f, s1 = 0.f;
      size_t p = 0;
      for (; p + 1 < np; p += 2) {
        s0 += c[gi[p]] + gf[p] * (c[gi[p] + 1] - c[gi[p]]);
        s1 += c[gi[p + 1]] + gf[p + 1] * (c[gi[p + 1] + 1] - c[gi[p + 1]]);
      }
      if (p < np) s0 += c[gi[p]] + gf[p] * (c[gi[p] + 1] - c[gi[p]]);
      const double s = static_cast<double>(s0) + s1;
      if (s > bestP) bestP = s, best = d;
    }
    // The refinement compares Catmull-Rom values only with each other.
    bestP = power(gridA[best], gridE[best]);
    double az = gridA[best], el = gridE[best];
    double sa = azStep / 2, se = elStep / 2;
    const bool linear = lay.shape == ArrayShape::Linear;
    while (sa > 0.01) {
      double na = az, ne = el;
      for (int da = -1; da <= 1; da++)
        for (int de = -1; de <= 1; de++) {
          if (da == 0 && de == 0) continue;
          if (linear && de != 0) continue;
          double ca = az + da * sa, ce = el + de * se;
          if (linear) ca = std::clamp(ca, 0.0, 180.0);
          else ce = std::clamp(ce, elLo, elHi);
          const double s = power(ca, ce);
          if (s > bestP) bestP = s, na = ca, ne = ce;
        }
      az = na, el = ne;
      sa /= 2, se /= 2;
    }
    result.azimuth = linear ? az : wrap360(az);
    result.elevation = linear ? 0 : el;
    result.confidence = std::clamp(bestP / np, 0.0, 1.0);
    result.valid = true;
    fresh = true;
  }
};

SrpPhatDoa::SrpPhatDoa(const Geometry& g, int frameSize, int hop) : impl_(new Impl(g, frameSize, hop)) {}
SrpPhatDoa::~SrpPhatDoa() = default;
SrpPhatDoa::SrpPhatDoa(SrpPhatDoa&&) noexcept = default;
SrpPhatDoa& SrpPhatDoa::operator=(SrpPhatDoa&&) noexcept = default;

void SrpPhatDoa::push(const float* const* in, int frames) noexcept {
  Impl& s = *impl_;
  int done = 0;
  while (done < frames) {
    const int take = std::min(frames - done, s.n - s.filled);
    for (int c = 0; c < s.m; c++) {
      double* f = &s.fifo[static_cast<size_t>(c) * s.n + s.filled];
      for (int i = 0; i < take; i++) f[i] = in[c][done + i];
    }
    s.filled += take;
    done += take;
    if (s.filled == s.n) {
      s.analyse();
      for (int c = 0; c < s.m; c++) {
        double* f = &s.fifo[static_cast<size_t>(c) * s.n];
        std::memmove(f, f + s.hop, sizeof(double) * (s.n - s.hop));
      }
      s.filled = s.n - s.hop;
    }
  }
}

bool SrpPhatDoa::hasNew() const noexcept { return impl_->fresh; }

DoaResult SrpPhatDoa::latest() noexcept {
  impl_->fresh = false;
  return impl_->result;
}

int SrpPhatDoa::hopSize() const noexcept { return impl_->hop; }

}  // namespace dsp
