#pragma GCC optimize("O3")
#include "dsp/ssl.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "dsp/fft.h"
#include "dsp/hop_frames.h"

namespace dsp {

namespace {
constexpr double kBandLoHz = 200, kBandHiHz = 8000;  // the PHAT band, as doa.cc
// Correlation lags in half samples, or whole samples for a 2D/3D array whose aperture spans 20
// samples or more (as doa.cc: interpolating between whole-sample lags is then exact enough, and
// the per-pair inverse FFT, this localiser's main cost, halves).
int upFor(const ArrayLayout& lay, double fs) { return lay.shape != ArrayShape::Linear && lay.aperture / kSpeedOfSound * fs >= 20 ? 1 : 2; }
constexpr double kSilence = 1e-9;                     // mean square below this (-90 dBFS): no peaks
double wrap360(double a) {
  a = std::fmod(a, 360.0);
  return a < 0 ? a + 360.0 : a;
}
}  // namespace

struct MultiSourceSsl::Impl {
  SslOptions o;
  std::vector<Vec3> mics;
  ArrayLayout lay;
  double fs;
  int n, hop, m, up, kLo, kHi, nb, reach, width;
  RealFft fwd, inv;
  std::vector<double> win, frame, lagBuf;
  std::vector<float> fifo;
  std::vector<cplx> spec;   // m x (n/2 + 1)
  std::vector<cplx> cross;  // up * n / 2 + 1: the n-point spectrum zero-padded, lags in 1 / up samples
  std::vector<std::pair<int, int>> pairs;
  std::vector<float> corr, work;  // pairs x (2 reach + 1): lag q at index q + reach
  bool primed = false;
  // Grid: directions and, per direction and pair, the position in a pair's correlation.
  std::vector<double> gridA, gridE;
  std::vector<int> ringOf;  // first grid index of each direction's elevation ring
  int ringSize = 0;
  std::vector<float> gridPos;
  std::vector<double> power;
  int filled = 0;
  SslPeak result[kSslMaxSources];
  int count = 0;
  bool fresh = false;

  Impl(const Geometry& g, const SslOptions& opt)
      : o(opt), mics(g.mics), lay(describeLayout(g)), fs(g.sampleRate), n(nextPow2(std::max(opt.frameSize, 64))),
        hop(opt.hop <= 0 ? n / 2 : std::min(opt.hop, n)), m(static_cast<int>(g.mics.size())), up(upFor(lay, fs)), fwd(n), inv(up * n) {
    o.maxSources = std::clamp(o.maxSources, 1, kSslMaxSources);
    win.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) win[static_cast<size_t>(i)] = 0.5 - 0.5 * std::cos(2 * kPi * i / n);
    frame.assign(static_cast<size_t>(n), 0.0);
    fifo.assign(static_cast<size_t>(m) * n, 0.f);
    spec.assign(static_cast<size_t>(m) * (n / 2 + 1), cplx());
    cross.assign(static_cast<size_t>(up * n / 2 + 1), cplx());
    lagBuf.assign(static_cast<size_t>(up * n), 0.0);
    kLo = std::max(1, static_cast<int>(std::ceil(kBandLoHz * n / fs)));
    kHi = std::min(n / 2 - 1, static_cast<int>(std::floor(std::min(kBandHiHz, 0.45 * fs) * n / fs)));
    nb = std::max(0, kHi - kLo + 1);
    for (int i = 0; i < m; i++)
      for (int j = i + 1; j < m; j++) pairs.emplace_back(i, j);
    reach = std::min(up * n / 2 - 1, static_cast<int>(std::ceil(lay.aperture / kSpeedOfSound * fs * up)) + 4);
    // Cleared around a found peak: about the PHAT main lobe's half width at the band's top.
    width = std::max(2, static_cast<int>(std::lround(0.75 * up * fs / std::min(kBandHiHz, 0.45 * fs))));
    const size_t span = static_cast<size_t>(2 * reach + 1);
    corr.assign(pairs.size() * span, 0.f);
    work.assign(corr.size(), 0.f);
    const bool linear = lay.shape == ArrayShape::Linear;
    std::vector<double> els;
    if (linear) els = {0};
    else if (lay.shape == ArrayShape::Planar && lay.horizontal) els = {0, 20, 40, 60};
    else els = {-60, -40, -20, 0, 20, 40, 60};
    ringSize = linear ? 181 : 360;
    for (double e : els)
      for (int a = 0; a < ringSize; a++) {
        ringOf.push_back(static_cast<int>(gridA.size()) - a);
        gridA.push_back(a), gridE.push_back(e);
      }
    // Per pair, sub-samples of lag per unit direction: lead_j - lead_i.
    const double per = fs * up / kSpeedOfSound;
    gridPos.assign(gridA.size() * pairs.size(), 0.f);
    for (size_t d = 0; d < gridA.size(); d++) {
      const Vec3 u = linear ? Vec3{lay.axis.x * std::cos(gridA[d] * kPi / 180), lay.axis.y * std::cos(gridA[d] * kPi / 180),
                                   lay.axis.z * std::cos(gridA[d] * kPi / 180)}
                            : directionVector(gridA[d], gridE[d]);
      for (size_t p = 0; p < pairs.size(); p++) {
        const Vec3 a = mics[static_cast<size_t>(pairs[p].first)], b = mics[static_cast<size_t>(pairs[p].second)];
        const Vec3 dif{b.x - a.x, b.y - a.y, b.z - a.z};
        gridPos[d * pairs.size() + p] = static_cast<float>(std::clamp(dot(dif, u) * per + reach, 0.0, 2.0 * reach - 1));
      }
    }
    power.assign(gridA.size(), 0.0);
  }

  double srp(const float* c, size_t d) const noexcept {
    const size_t np = pairs.size(), span = static_cast<size_t>(2 * reach + 1);
    const float* pos = &gridPos[d * np];
    float s = 0.f;
    for (size_t p = 0; p < np; p++) {
      const int i = static_cast<int>(pos[p]);
      const float f = pos[p] - static_cast<float>(i);
      const float* q = c + p * span + i;
      s += q[0] + f * (q[1] - q[0]);
    }
    return s;
  }

  void analyse() noexcept {
    double energy = 0;
    for (float v : fifo) energy += static_cast<double>(v) * v;
    count = 0;
    fresh = true;
    if (pairs.empty() || nb == 0 || lay.shape == ArrayShape::Single || !(energy / fifo.size() >= kSilence) || !std::isfinite(energy)) {
      primed = false;
      return;
    }
    const int bins = n / 2 + 1;
    for (int c = 0; c < m; c++) {
      const float* f = &fifo[static_cast<size_t>(c) * n];
      for (int i = 0; i < n; i++) frame[static_cast<size_t>(i)] = f[i] * win[static_cast<size_t>(i)];
      fwd.forward(frame.data(), &spec[static_cast<size_t>(c) * bins]);
    }
    const size_t span = static_cast<size_t>(2 * reach + 1);
    const int big = up * n;
    const double scale = static_cast<double>(big) / (2.0 * nb);
    for (size_t p = 0; p < pairs.size(); p++) {
      const cplx* a = &spec[static_cast<size_t>(pairs[p].first) * bins];
      const cplx* b = &spec[static_cast<size_t>(pairs[p].second) * bins];
      std::fill(cross.begin(), cross.end(), cplx());
      for (int k = kLo; k <= kHi; k++) {
        const cplx x = a[k] * std::conj(b[k]);
        const double mag = std::abs(x);
        cross[static_cast<size_t>(k)] = mag > 1e-30 ? x / mag : cplx();
      }
      inv.inverse(cross.data(), lagBuf.data());
      float* c = &corr[p * span];
      for (int q = -reach; q <= reach; q++) {
        const float v = static_cast<float>(lagBuf[static_cast<size_t>((q + big) % big)] * scale);
        c[q + reach] = primed ? static_cast<float>(o.smoothing * c[q + reach] + (1 - o.smoothing) * v) : v;
      }
    }
    primed = true;
    std::copy(corr.begin(), corr.end(), work.begin());
    const size_t np = pairs.size();
    const bool linear = lay.shape == ArrayShape::Linear;
    double first = 0;
    for (int k = 0; k < o.maxSources; k++) {
      size_t best = 0;
      double bestP = -1e300;
      for (size_t d = 0; d < gridA.size(); d++) {
        const double s = srp(work.data(), d);
        power[d] = s;
        if (s > bestP) bestP = s, best = d;
      }
      const double e = bestP / static_cast<double>(np);
      if (k == 0) first = e;
      if (e < o.minEnergy || e < o.relEnergy * first) break;
      // Sub-degree azimuth: a parabola through the peak and its ring neighbours.
      const int a = static_cast<int>(best) - ringOf[best];
      const size_t base = static_cast<size_t>(ringOf[best]);
      double az = gridA[best];
      const bool edge = linear && (a == 0 || a == ringSize - 1);
      if (!edge) {
        const double l = power[base + static_cast<size_t>((a + ringSize - 1) % ringSize)];
        const double r = power[base + static_cast<size_t>((a + 1) % ringSize)];
        const double den = l - 2 * bestP + r;
        if (den < 0) az += std::clamp(0.5 * (l - r) / den, -0.5, 0.5);
      }
      result[count++] = {linear ? std::clamp(az, 0.0, 180.0) : wrap360(az), gridE[best], std::clamp(e, 0.0, 1.0)};
      // Remove this source: clear every pair's correlation around its lag.
      const float* pos = &gridPos[best * np];
      for (size_t p = 0; p < np; p++) {
        const int c = static_cast<int>(std::lround(pos[p]));
        float* w = &work[p * span];
        for (int q = std::max(0, c - width); q <= std::min(2 * reach, c + width); q++) w[q] = 0.f;
      }
    }
  }
};

MultiSourceSsl::MultiSourceSsl(const Geometry& g, const SslOptions& o) : impl_(new Impl(g, o)) {}
MultiSourceSsl::~MultiSourceSsl() = default;
MultiSourceSsl::MultiSourceSsl(MultiSourceSsl&&) noexcept = default;
MultiSourceSsl& MultiSourceSsl::operator=(MultiSourceSsl&&) noexcept = default;

void MultiSourceSsl::push(const float* const* in, int frames) noexcept {
  Impl& s = *impl_;
  pushHopped(s.fifo.data(), s.m, s.n, s.hop, s.filled, in, frames, [&s] { s.analyse(); });
}

bool MultiSourceSsl::hasNew() const noexcept { return impl_->fresh; }

int MultiSourceSsl::peaks(SslPeak* out) noexcept {
  impl_->fresh = false;
  for (int i = 0; i < impl_->count; i++) out[i] = impl_->result[i];
  return impl_->count;
}

int MultiSourceSsl::hopSize() const noexcept { return impl_->hop; }
int MultiSourceSsl::frameSize() const noexcept { return impl_->n; }

}  // namespace dsp
