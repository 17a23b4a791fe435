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
#include "dsp/hop_frames.h"

namespace dsp {

namespace {
constexpr double kBandLoHz = 200, kBandHiHz = 8000;  // PHAT band: where voices and instruments live
// GCC lag spacing: half a sample, or a whole sample for 2D/3D arrays whose aperture spans 20
// samples or more, where interpolating between whole-sample lags is already exact to 0.02 deg
// (measured; on a 10 cm ring it would bias by 0.17 deg) and the correlation costs half. Linear
// arrays keep half samples: near endfire a small lag error is a large angle error.
double lagStepFor(double apertureSamples, bool linear) { return !linear && apertureSamples >= 20 ? 1.0 : 0.5; }
// Every second bin of the band: Hann-windowed neighbours are strongly correlated, so skipping
// them halves the correlation cost for a negligible loss (docs/dsp.md has the figures). The bins
// taken are the odd ones, which lets the frame be folded in half before its FFT. (The even ones
// fold just as well but lose half the accuracy on the 160 Hz speech-like test voice: which half
// of the bins is kept matters for a harmonic source, and odd is what the figures were made with.)
constexpr int kBinStride = 2;
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

// ---- the two hot loops, compiled twice on x86-64 (baseline and AVX2+FMA, picked at run time;
// no ifunc, so sanitizer builds are unaffected); elsewhere (the Jetson's NEON) once. ----

// One pair's generalised cross-correlation at lags 0..h (in lag steps) from its whitened cross
// spectrum, split in its even (cosine) and odd (sine) parts: the lag grid is symmetric about
// zero, so lag -l is C[l] - S[l] and lag +l is C[l] + S[l], half the work of evaluating both.
inline __attribute__((always_inline)) void correlateBody(const float* ar, const float* ai, const float* br, const float* bi,
                                                         float norm, int nk, const float* cosT, const float* sinT, int stride,
                                                         int h, float* C, float* S) noexcept {
  for (int l = 0; l <= h; l++) C[l] = 0.f, S[l] = 0.f;
  for (int k = 0; k < nk; k++) {
    const float g1 = (ar[k] * br[k] + ai[k] * bi[k]) * norm;
    const float g2 = (ai[k] * br[k] - ar[k] * bi[k]) * norm;
    const float* ct = cosT + static_cast<size_t>(k) * stride;
    const float* st = sinT + static_cast<size_t>(k) * stride;
    for (int l = 0; l <= h; l++) {
      C[l] += g1 * ct[l];
      S[l] += g2 * st[l];
    }
  }
}

// The same correlation with the pair's lags held in registers across the bins: `nv` vectors of
// lags (C and S each), so each bin costs two table loads and two multiply-adds per vector instead
// of also loading and storing C and S. Lane l accumulates exactly as correlateBody's C[l] and S[l]
// (bin by bin from 0, the same expression), so the sums are the same bits; lags past h are
// computed and dropped (the table rows are padded to whole vectors). nv <= kMaxVec.
typedef float V4 __attribute__((vector_size(16)));
typedef float V8 __attribute__((vector_size(32)));
typedef double D4 __attribute__((vector_size(32)));
constexpr int kMaxVec = 8;
template <typename V, int NV>
inline __attribute__((always_inline)) void correlateRegs(const float* ar, const float* ai, const float* br, const float* bi,
                                                         float norm, int nk, const float* cosT, const float* sinT, int stride,
                                                         float* C, float* S) noexcept {
  constexpr int kLanes = sizeof(V) / sizeof(float);
  V c[NV] = {}, s[NV] = {};
  for (int k = 0; k < nk; k++) {
    const float g1 = (ar[k] * br[k] + ai[k] * bi[k]) * norm;
    const float g2 = (ai[k] * br[k] - ar[k] * bi[k]) * norm;
    const float* ct = cosT + static_cast<size_t>(k) * stride;
    const float* st = sinT + static_cast<size_t>(k) * stride;
    for (int j = 0; j < NV; j++) {
      V vc, vs;
      std::memcpy(&vc, ct + j * kLanes, sizeof vc);
      std::memcpy(&vs, st + j * kLanes, sizeof vs);
      c[j] += g1 * vc;
      s[j] += g2 * vs;
    }
  }
  for (int j = 0; j < NV; j++) {
    std::memcpy(C + j * kLanes, &c[j], sizeof c[j]);
    std::memcpy(S + j * kLanes, &s[j], sizeof s[j]);
  }
}
// Dispatches on the number of vectors a pair's lags 0..h fill; beyond kMaxVec, the loop above.
template <typename V>
inline __attribute__((always_inline)) void correlateBlocked(const float* ar, const float* ai, const float* br, const float* bi,
                                                            float norm, int nk, const float* cosT, const float* sinT,
                                                            int stride, int h, float* C, float* S) noexcept {
  constexpr int kLanes = sizeof(V) / sizeof(float);
  switch ((h + kLanes) / kLanes) {
#define DOA_NV(n) \
  case n:         \
    return correlateRegs<V, n>(ar, ai, br, bi, norm, nk, cosT, sinT, stride, C, S);
    DOA_NV(1) DOA_NV(2) DOA_NV(3) DOA_NV(4) DOA_NV(5) DOA_NV(6) DOA_NV(7) DOA_NV(8)
#undef DOA_NV
    default:
      return correlateBody(ar, ai, br, bi, norm, nk, cosT, sinT, stride, h, C, S);
  }
}

// Steered response power of every coarse-grid direction (linear interpolation into the flat
// correlation array); returns the best direction's index and its power.
inline __attribute__((always_inline)) size_t gridBody(const float* c, const int32_t* gi, const float* gf, size_t nd, size_t np,
                                                      double* bestOut) noexcept {
  size_t best = 0;
  double bestP = -1e300;
  for (size_t d = 0; d < nd; d++) {
    const int32_t* g = gi + d * np;
    const float* f = gf + d * np;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t p = 0;
    for (; p + 8 <= np; p += 8)
      for (int l = 0; l < 8; l++) {
        const float a = c[g[p + l]];
        acc[l] += a + f[p + l] * (c[g[p + l] + 1] - a);
      }
    float s = 0.f;
    for (; p < np; p++) s += c[g[p]] + f[p] * (c[g[p] + 1] - c[g[p]]);
    const double tot = static_cast<double>(s) + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    if (tot > bestP) bestP = tot, best = d;
  }
  *bestOut = bestP;
  return best;
}

// Steered response power of one direction for the refinement: every pair's correlation at its
// delay difference dot(base, u) + off, Catmull-Rom interpolated (clamped to the computed lags).
inline __attribute__((always_inline)) float powerBody(const float* corr, int nLags, const float* bx, const float* by,
                                                      const float* bz, size_t np, float ux, float uy, float uz,
                                                      float off) noexcept {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const float hi = static_cast<float>(nLags) - 3.0f;
  for (size_t p0 = 0; p0 < np; p0 += 8) {
    const size_t cnt = np - p0 < 8 ? np - p0 : 8;
    for (size_t l = 0; l < cnt; l++) {
      const size_t p = p0 + l;
      float x = bx[p] * ux + by[p] * uy + bz[p] * uz + off;
      x = x < 1.0f ? 1.0f : (x > hi ? hi : x);
      const int i = static_cast<int>(x);
      const float t = x - static_cast<float>(i);
      const float* c = corr + p * static_cast<size_t>(nLags) + i;
      const float q0 = c[-1], q1 = c[0], q2 = c[1], q3 = c[2];
      acc[l] += q1 + 0.5f * t * (q2 - q0 + t * (2 * q0 - 5 * q1 + 4 * q2 - q3 + t * (3 * (q1 - q2) + q3 - q0)));
    }
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void correlatePortable(const float* ar, const float* ai, const float* br, const float* bi, float norm, int nk, const float* cosT,
                       const float* sinT, int stride, int h, float* C, float* S) noexcept {
  correlateBlocked<V4>(ar, ai, br, bi, norm, nk, cosT, sinT, stride, h, C, S);
}
size_t gridPortable(const float* c, const int32_t* gi, const float* gf, size_t nd, size_t np, double* best) noexcept {
  return gridBody(c, gi, gf, nd, np, best);
}
float powerPortable(const float* corr, int nLags, const float* bx, const float* by, const float* bz, size_t np, float ux, float uy,
                    float uz, float off) noexcept {
  return powerBody(corr, nLags, bx, by, bz, np, ux, uy, uz, off);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DOA_HAVE_AVX2 1
__attribute__((target("arch=x86-64-v3"))) void correlateAvx2(const float* ar, const float* ai, const float* br, const float* bi,
                                                              float norm, int nk, const float* cosT, const float* sinT,
                                                              int stride, int h, float* C, float* S) noexcept {
  correlateBlocked<V8>(ar, ai, br, bi, norm, nk, cosT, sinT, stride, h, C, S);
}
__attribute__((target("arch=x86-64-v3"))) size_t gridAvx2(const float* c, const int32_t* gi, const float* gf, size_t nd,
                                                          size_t np, double* best) noexcept {
  return gridBody(c, gi, gf, nd, np, best);
}
__attribute__((target("arch=x86-64-v3"))) float powerAvx2(const float* corr, int nLags, const float* bx, const float* by,
                                                          const float* bz, size_t np, float ux, float uy, float uz,
                                                          float off) noexcept {
  return powerBody(corr, nLags, bx, by, bz, np, ux, uy, uz, off);
}
bool cpuHasAvx2() noexcept { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#endif

using CorrelateFn = void (*)(const float*, const float*, const float*, const float*, float, int, const float*, const float*, int,
                             int, float*, float*) noexcept;
using GridFn = size_t (*)(const float*, const int32_t*, const float*, size_t, size_t, double*) noexcept;
using PowerFn = float (*)(const float*, int, const float*, const float*, const float*, size_t, float, float, float, float) noexcept;
}  // namespace

struct SrpPhatDoa::Impl {
  std::vector<Vec3> mics;
  ArrayLayout lay;
  double fs;
  int n, half, hop, m, kLo, kHi, nk, nLags, halfLags;
  double lag0;     // lag (samples) of corr index 0
  double lagStep;  // samples between corr indices
  // The DOA only uses odd bins of the n-point frame: bin 2q + 1 is bin q of the frame folded to
  // n/2 samples and shifted down by one bin, (x[i] - x[i + n/2]) e^{-j 2 pi i / n}. Two mics'
  // folded frames go through one complex FFT (the odd bins of a real signal are conjugate
  // symmetric about the middle, so the two spectra separate again).
  ComplexFft fft;
  std::vector<double> win;
  std::vector<cplx> shift;  // e^{-j 2 pi i / n}, i < n/2
  std::vector<float> fifo;
  std::vector<cplx> z;
  std::vector<float> xr, xi, xm, cosT, sinT;  // cosT/sinT: bins x lags 0..halfLags
  std::vector<float> accC, accS;
  std::vector<float> raw, corr;  // this hop's pair correlations, and their average over hops
  bool primed = false;
  std::vector<std::pair<int, int>> pairs;
  std::vector<int> pairReach;  // lag steps each side of zero each pair computes
  // Per pair, the mic-position difference in lag steps per unit direction: a direction u's pair
  // delay sits at corr index dot(pairBase, u) + halfLags.
  std::vector<Vec3> pairBase;
  // Coarse grid: directions and, per direction and pair, the position in corr.
  std::vector<double> gridA, gridE;
  std::vector<int32_t> gridIdx;
  std::vector<float> gridFrac;
  // Coarse to fine (2D and 3D arrays): every second azimuth of each elevation row first (about
  // half the directions), then the skipped neighbours of the best one in its row and the rows
  // beside it. coarseDir maps the coarse list to grid indices; dirRow/dirPos place a direction.
  std::vector<size_t> coarseDir, rowStart, rowCount, dirRow, dirPos;
  std::vector<int32_t> coarseIdx;
  std::vector<float> coarseFrac;
  double azStep = 4, elStep = 20, elLo = 0, elHi = 0;
  int filled = 0;
  DoaResult result{0, 0, 0, false};
  bool fresh = false;
  CorrelateFn correlate = correlatePortable;
  GridFn grid = gridPortable;
  PowerFn powerAt = powerPortable;
  std::vector<float> baseX, baseY, baseZ;  // pairBase as floats, one array per axis

  Impl(const Geometry& g, int frameSize, int hopSize)
      : mics(g.mics), lay(describeLayout(g)), fs(g.sampleRate), n(nextPow2(std::max(frameSize, 64))), half(n / 2),
        hop(hopSize <= 0 ? n / 2 : std::min(hopSize, n)), m(static_cast<int>(g.mics.size())), fft(n / 2) {
#ifdef DOA_HAVE_AVX2
    if (cpuHasAvx2()) correlate = correlateAvx2, grid = gridAvx2, powerAt = powerAvx2;
#endif
    win.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) win[static_cast<size_t>(i)] = 0.5 - 0.5 * std::cos(2 * kPi * i / n);
    fifo.assign(static_cast<size_t>(m) * n, 0.f);
    z.assign(static_cast<size_t>(half), cplx());
    for (int i = 0; i < half; i++) shift.push_back(std::polar(1.0, -2 * kPi * i / n));
    // Odd bins only, from the first at or above the band's low edge.
    kLo = std::max(1, static_cast<int>(std::ceil(kBandLoHz * n / fs)));
    kLo += 1 - (kLo & 1);
    kHi = std::min(n / 2 - 1, static_cast<int>(std::floor(std::min(kBandHiHz, 0.45 * fs) * n / fs)));
    nk = kHi >= kLo ? (kHi - kLo) / kBinStride + 1 : 0;
    xr.assign(static_cast<size_t>(m) * nk, 0.f);
    xi.assign(static_cast<size_t>(m) * nk, 0.f);
    xm.assign(static_cast<size_t>(m) * nk, 0.f);
    for (int i = 0; i < m; i++)
      for (int j = i + 1; j < m; j++) pairs.emplace_back(i, j);
    lagStep = lagStepFor(lay.aperture / kSpeedOfSound * fs, lay.shape == ArrayShape::Linear);
    const double maxLag = lay.aperture / kSpeedOfSound * fs + 3;
    halfLags = static_cast<int>(std::ceil(maxLag / lagStep));
    nLags = 2 * halfLags + 1;
    lag0 = -halfLags * lagStep;
    // Bin-major, lags 0..halfLags, so the inner loop runs over lags without a reduction; rows
    // padded to whole vectors of eight (the blocked kernel reads them whole).
    const int stride = tableStride();
    cosT.assign(static_cast<size_t>(stride) * nk, 0.f);
    sinT.assign(static_cast<size_t>(stride) * nk, 0.f);
    for (int k = 0; k < nk; k++)
      for (int l = 0; l <= halfLags; l++) {
        const double ph = 2 * kPi * (kLo + k * kBinStride) / n * (l * lagStep);
        cosT[static_cast<size_t>(k) * stride + l] = static_cast<float>(std::cos(ph));
        sinT[static_cast<size_t>(k) * stride + l] = static_cast<float>(std::sin(ph));
      }
    accC.assign(static_cast<size_t>(stride), 0.f);
    accS.assign(static_cast<size_t>(stride), 0.f);
    corr.assign(pairs.size() * static_cast<size_t>(nLags), 0.f);
    raw.assign(corr.size(), 0.f);
    // Each pair only needs the lags its own baseline allows (plus a margin for interpolation):
    // short baselines are most of a ring's pairs.
    const bool linear = lay.shape == ArrayShape::Linear;
    const double perStep = fs / kSpeedOfSound / lagStep;
    for (const auto& [i, j] : pairs) {
      const Vec3 a = mics[static_cast<size_t>(i)], b = mics[static_cast<size_t>(j)];
      const Vec3 d{a.x - b.x, a.y - b.y, a.z - b.z};
      const double reach = std::sqrt(dot(d, d)) / kSpeedOfSound * fs + 3;
      pairReach.push_back(std::min(halfLags, static_cast<int>(std::ceil(reach / lagStep))));
      // A line's directions are angles to its axis: only the axial component counts.
      pairBase.push_back(linear ? Vec3{dot(d, lay.axis) * perStep, 0, 0} : Vec3{d.x * perStep, d.y * perStep, d.z * perStep});
    }
    for (const Vec3& b : pairBase) {
      baseX.push_back(static_cast<float>(b.x));
      baseY.push_back(static_cast<float>(b.y));
      baseZ.push_back(static_cast<float>(b.z));
    }
    // Coarse steps: about a third of the main lobe at the top of the band, 1..4 degrees.
    if (lay.aperture > 0) {
      const double lobe = deg(kSpeedOfSound / (std::min(kBandHiHz, 0.45 * fs) * lay.aperture));
      azStep = std::clamp(lobe / 3, 1.0, 4.0);
    }
    if (linear) {
      for (double a = 0; a <= 180.0 + 1e-9; a += 1.0) gridA.push_back(a), gridE.push_back(0);
      azStep = 1, elStep = 0, elLo = elHi = 0;
    } else {
      elLo = (lay.shape == ArrayShape::Planar && lay.horizontal) ? 0 : -90;
      elHi = 90;
      for (double e = elLo; e <= elHi + 1e-9; e += elStep) {
        const double step = std::fabs(e) >= 89.9 ? 360 : azStep;
        rowStart.push_back(gridA.size());
        for (double a = 0; a < 360 - 1e-9; a += step) {
          dirRow.push_back(rowStart.size() - 1), dirPos.push_back(gridA.size() - rowStart.back());
          gridA.push_back(a), gridE.push_back(e);
        }
        rowCount.push_back(gridA.size() - rowStart.back());
      }
    }
    // The coarse search interpolates linearly (the refinement uses Catmull-Rom): each
    // direction's pair delays as a corr index into the flat corr array, and a fraction.
    gridIdx.assign(gridA.size() * pairs.size(), 0);
    gridFrac.assign(gridA.size() * pairs.size(), 0.f);
    for (size_t d = 0; d < gridA.size(); d++) {
      const Vec3 u = unit(gridA[d], gridE[d]);
      for (size_t p = 0; p < pairs.size(); p++) {
        const double x = std::clamp(pos(p, u), 0.0, nLags - 2.0);
        const int i = static_cast<int>(x);
        gridIdx[d * pairs.size() + p] = static_cast<int32_t>(p * static_cast<size_t>(nLags) + static_cast<size_t>(i));
        gridFrac[d * pairs.size() + p] = static_cast<float>(x - i);
      }
    }
    for (size_t d = 0; d < dirRow.size(); d++) {
      if (!coarse(d)) continue;
      coarseDir.push_back(d);
      coarseIdx.insert(coarseIdx.end(), gridIdx.begin() + d * pairs.size(), gridIdx.begin() + (d + 1) * pairs.size());
      coarseFrac.insert(coarseFrac.end(), gridFrac.begin() + d * pairs.size(), gridFrac.begin() + (d + 1) * pairs.size());
    }
  }

  // Whether the coarse pass takes direction d: even positions of rows of four or more.
  bool coarse(size_t d) const noexcept { return rowCount[dirRow[d]] < 4 || dirPos[d] % 2 == 0; }
  // The grid's best direction: all of it (lines), or coarse to fine.
  size_t gridBest(double* bestP) const noexcept {
    const size_t np = pairs.size();
    if (coarseDir.empty()) return grid(corr.data(), gridIdx.data(), gridFrac.data(), gridA.size(), np, bestP);
    size_t best = coarseDir[grid(corr.data(), coarseIdx.data(), coarseFrac.data(), coarseDir.size(), np, bestP)];
    const size_t r = dirRow[best], j = dirPos[best], cnt = rowCount[r];
    for (size_t rr = r == 0 ? 0 : r - 1; rr <= r + 1 && rr < rowCount.size(); rr++) {
      if (rowCount[rr] != cnt) continue;
      for (const size_t jj : {(j + cnt - 1) % cnt, (j + 1) % cnt}) {
        const size_t d = rowStart[rr] + jj;
        if (coarse(d)) continue;
        double p;
        grid(corr.data(), gridIdx.data() + d * np, gridFrac.data() + d * np, 1, np, &p);
        if (p > *bestP || (p == *bestP && d < best)) *bestP = p, best = d;
      }
    }
    return best;
  }

  int tableStride() const noexcept { return (halfLags + 1 + 7) / 8 * 8; }
  // The direction as pairBase expects it; for a line, az is the angle to its axis.
  Vec3 unit(double az, double el) const noexcept {
    if (lay.shape == ArrayShape::Linear) return Vec3{std::cos(az * kPi / 180.0), 0, 0};
    return directionVector(az, el);
  }
  // Corr index of pair p's delay difference for direction u.
  double pos(size_t p, const Vec3& u) const noexcept { return dot(pairBase[p], u) + halfLags; }
  // Steered response power at a direction, Catmull-Rom interpolated.
  double power(double az, double el) const noexcept {
    const Vec3 u = unit(az, el);
    return powerAt(corr.data(), nLags, baseX.data(), baseY.data(), baseZ.data(), pairs.size(), static_cast<float>(u.x),
                   static_cast<float>(u.y), static_cast<float>(u.z), static_cast<float>(halfLags));
  }

  // Whitened odd-bin spectra of mics c and c + 1 (if there is one) through one FFT.
  void spectra(int c) noexcept {
    const bool two = c + 1 < m;
    const float* fa = &fifo[static_cast<size_t>(c) * n];
    const float* fb = two ? &fifo[static_cast<size_t>(c + 1) * n] : fa;
    const double* w = win.data();
    const double* sh = reinterpret_cast<const double*>(shift.data());
    for (int i = 0; i < half; i++) {
      const double a = fa[i] * w[i] - fa[i + half] * w[i + half];
      const double b = two ? fb[i] * w[i] - fb[i + half] * w[i + half] : 0.0;
      const double sr = sh[2 * i], si = sh[2 * i + 1];
      z[static_cast<size_t>(i)] = cplx(a * sr - b * si, a * si + b * sr);
    }
    fft.forward(z.data());
    const double* zd = reinterpret_cast<const double*>(z.data());
    for (int k = 0; k < nk; k++) {
      // Folded bin q is the frame's bin 2q + 1. Unpack the two signals' spectra:
      // A = (Z[q] + conj Z[n/2 - 1 - q]) / 2, B = (Z[q] - conj Z[n/2 - 1 - q]) / 2j.
      const int q = (kLo + k * kBinStride - 1) / 2, r = half - 1 - q;
      const double zr = zd[2 * q], zi = zd[2 * q + 1], cr = zd[2 * r], ci = -zd[2 * r + 1];
      whiten(c, k, 0.5 * (zr + cr), 0.5 * (zi + ci));
      if (two) whiten(c + 1, k, 0.5 * (zi - ci), -0.5 * (zr - cr));
    }
  }
  // PHAT: unit magnitude per bin; xm marks the bins that had any energy.
  void whiten(int c, int k, double re, double im) noexcept {
    const double mag = std::sqrt(re * re + im * im);
    const double inv = mag > 1e-20 ? 1.0 / mag : 0.0;
    const size_t at = static_cast<size_t>(c) * nk + k;
    xr[at] = static_cast<float>(re * inv);
    xi[at] = static_cast<float>(im * inv);
    xm[at] = mag > 1e-20 ? 1.f : 0.f;
  }

  void analyse() noexcept {
    // Four partial sums in double, written as a vector (GCC left the plain loop scalar): lane l
    // sums samples l, l + 4, ... in order, as before.
    D4 e4 = {0, 0, 0, 0};
    const size_t total = fifo.size();
    size_t i = 0;
    for (; i + 4 <= total; i += 4) {
      V4 f;
      std::memcpy(&f, &fifo[i], sizeof f);
      const D4 d = __builtin_convertvector(f, D4);
      e4 += d * d;
    }
    double energy = (e4[0] + e4[1]) + (e4[2] + e4[3]);
    for (; i < total; i++) energy += static_cast<double>(fifo[i]) * fifo[i];
    // Coincident mics (no aperture) carry no direction at all.
    if (pairs.empty() || nk == 0 || lay.shape == ArrayShape::Single || !(energy / fifo.size() >= kSilence) || !std::isfinite(energy)) {
      result = {result.azimuth, result.elevation, 0, false};
      fresh = true;
      primed = false;
      return;
    }
    for (int c = 0; c < m; c += 2) spectra(c);
    const int stride = tableStride();
    for (size_t p = 0; p < pairs.size(); p++) {
      const size_t a = static_cast<size_t>(pairs[p].first) * nk, b = static_cast<size_t>(pairs[p].second) * nk;
      // Normalised so a perfectly coherent pair peaks at 1.
      // xm is 0 or 1, so every partial sum is a small whole number, exact in a float in any
      // order: four partial sums (the loop vectorises) give the bits the serial sum gave.
      float w4[4] = {0.f, 0.f, 0.f, 0.f};
      int k = 0;
      for (; k + 4 <= nk; k += 4)
        for (int l = 0; l < 4; l++) w4[l] += xm[a + k + l] * xm[b + k + l];
      float wsum = (w4[0] + w4[1]) + (w4[2] + w4[3]);
      for (; k < nk; k++) wsum += xm[a + k] * xm[b + k];
      const float norm = wsum > 0 ? 1.0f / wsum : 0.f;
      const int h = pairReach[p];
      correlate(&xr[a], &xi[a], &xr[b], &xi[b], norm, nk, cosT.data(), sinT.data(), stride, h, accC.data(), accS.data());
      float* mid = &raw[p * static_cast<size_t>(nLags) + static_cast<size_t>(halfLags)];
      for (int l = 0; l <= h; l++) {
        mid[l] = accC[static_cast<size_t>(l)] + accS[static_cast<size_t>(l)];
        mid[-l] = accC[static_cast<size_t>(l)] - accS[static_cast<size_t>(l)];
      }
    }
    if (!primed) {
      std::copy(raw.begin(), raw.end(), corr.begin());
      primed = true;
    } else {
      for (size_t i = 0; i < corr.size(); i++) corr[i] = kSmoothing * corr[i] + (1 - kSmoothing) * raw[i];
    }
    // Coarse grid, then hill-climb with halving steps.
    const size_t np = pairs.size();
    double bestP;
    const size_t best = gridBest(&bestP);
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
  pushHopped(s.fifo.data(), s.m, s.n, s.hop, s.filled, in, frames, [&s] { s.analyse(); });
}

bool SrpPhatDoa::hasNew() const noexcept { return impl_->fresh; }

DoaResult SrpPhatDoa::latest() noexcept {
  impl_->fresh = false;
  return impl_->result;
}

int SrpPhatDoa::hopSize() const noexcept { return impl_->hop; }

}  // namespace dsp
