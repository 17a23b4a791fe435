#pragma GCC optimize("O3")
// MVDR beamformer in the STFT domain, in its MPDR form: the spatial covariance is learned from
// everything the array hears, and per frequency bin the weights minimise output power subject
// to unit gain toward the steered direction:  w = R^-1 a / (a^H R^-1 a).
// Diagonal loading (a share of the covariance trace) keeps the white-noise gain bounded and
// limits self-cancellation of the target when the steering is a few degrees off.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "dsp/beamformer.h"
#include "dsp/fft.h"

namespace dsp {

namespace {

// Complex arithmetic written out: std::complex's operator* guards against inf/NaN through a
// library call (__muldc3) that is several times slower in these inner loops.
inline cplx mul(const cplx& a, const cplx& b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}
inline cplx mulConjA(const cplx& a, const cplx& b) {  // conj(a) * b
  return {a.real() * b.real() + a.imag() * b.imag(), a.real() * b.imag() - a.imag() * b.real()};
}

// STFT length, and so the latency: 256 at 44.1/48 kHz (5.3 ms), 512 at 96 kHz. Bins of about
// 190 Hz: finer costs snapshots (a worse covariance estimate for the same memory), coarser
// smears the low frequencies (docs/dsp.md). 50% overlap, sqrt-Hann analysis and synthesis.
int frameFor(double fs) { return fs > 64000 ? 512 : 256; }
constexpr double kAverageMs = 300;     // covariance forgetting time constant
constexpr double kWeightGlideMs = 10;  // applied weights glide toward the new solution
// Diagonal loading, as a share of trace(R)/M: kLoadingMax from kLoadingKneeHz up, falling with
// the square of frequency below it to kLoadingMin.
constexpr double kLoadingMax = 0.1;
constexpr double kLoadingMin = 0.01;
constexpr double kLoadingKneeHz = 3000;

// Real-time safety: the constructor allocates; steer, process and the rest are noexcept,
// allocate nothing, take no lock and make no syscall.
class Mvdr final : public Beamformer {
 public:
  Mvdr(const Geometry& g, int maxBlock)
      : mics_(g.mics), fs_(g.sampleRate), m_(static_cast<int>(g.mics.size())), n_(frameFor(g.sampleRate)), hop_(n_ / 2),
        k_(n_ / 2 + 1), fft_(n_) {
    const size_t M = static_cast<size_t>(m_), K = static_cast<size_t>(k_);
    win_.resize(n_);
    for (int i = 0; i < n_; i++) win_[static_cast<size_t>(i)] = std::sqrt(0.5 - 0.5 * std::cos(2 * kPi * i / n_));
    inFifo_.assign(M * n_, 0.0);
    outAcc_.assign(n_, 0.0);
    outReady_.assign(hop_, 0.f);
    frame_.assign(n_, 0.0);
    spec_.assign(K, cplx());
    x_.assign(K * M, cplx());
    r_.assign(K * M * M, cplx());
    // Until the covariance is learned, L = I: the weights are delay-and-sum's.
    chol_.assign(K * M * M, cplx());
    for (size_t k = 0; k < K; k++)
      for (size_t i = 0; i < M; i++) chol_[(k * M + i) * M + i] = 1.0;
    a_.assign(K * M, cplx());
    wt_.assign(K * M, cplx());
    wa_.assign(K * M, cplx());
    work_.assign(M * M, cplx());
    // Steering errors matter in proportion to frequency, so the loading (robustness) grows with
    // it; low bins get little loading, which lets them null an interferer that only a
    // superdirective weighting can separate from the target.
    loading_.assign(K, 0.0);
    for (size_t k = 0; k < K; k++) {
      const double f = static_cast<double>(k) * fs_ / n_, r = std::min(1.0, f / kLoadingKneeHz);
      loading_[k] = std::max(kLoadingMin, kLoadingMax * r * r);
    }
    tmp_.assign(M, cplx());
    lambda_ = std::exp(-hop_ / (kAverageMs * 1e-3 * fs_));
    beta_ = 1 - std::exp(-hop_ / (kWeightGlideMs * 1e-3 * fs_));
    // Re-factor a few bins per hop so the cost per hop stays bounded (O(M^3) per bin).
    // Every bin is re-solved once per `period` hops (16 hops = 43 ms at 48 kHz, inside the
    // 300 ms averaging time); larger arrays stretch it (16 mics: 32 hops, 85 ms) so the work
    // per hop stays bounded.
    const int period = std::max(16, m_ * m_ * m_ / 128);
    binsPerHop_ = std::max(1, (k_ + period - 1) / period);
    aim(0, 0);
    for (size_t k = 0; k < K; k++) solveWeights(static_cast<int>(k));
    wa_ = wt_;
    (void)maxBlock;
  }

  void steer(double azDeg, double elDeg) noexcept override {
    az_ = azDeg, el_ = elDeg;
    steerPending_ = true;
  }

  void process(const float* const* in, float* out, int frames) noexcept override {
    const size_t M = static_cast<size_t>(m_);
    // In runs up to the next hop boundary, channel by channel (the per-channel FIFOs are a
    // power-of-two size apart, so interleaved per-sample stores would fight over cache sets).
    for (int n = 0; n < frames;) {
      const int run = std::min(frames - n, hop_ - pos_);
      for (size_t c = 0; c < M; c++) {
        double* f = &inFifo_[c * n_ + n_ - hop_ + pos_];
        const float* x = in[c] + n;
        for (int i = 0; i < run; i++) f[i] = x[i];
      }
      for (int i = 0; i < run; i++) out[n + i] = outReady_[static_cast<size_t>(pos_ + i)];
      pos_ += run, n += run;
      if (pos_ == hop_) {
        hop();
        pos_ = 0;
      }
    }
  }

  int latencySamples() const noexcept override { return n_; }
  const char* name() const noexcept override { return "mvdr"; }
  void resetStream() noexcept override {
    std::fill(inFifo_.begin(), inFifo_.end(), 0.0);
    std::fill(outAcc_.begin(), outAcc_.end(), 0.0);
    std::fill(outReady_.begin(), outReady_.end(), 0.f);
    pos_ = 0;
  }
  void setAdaptation(bool on) noexcept override { adapt_ = on; }

 private:
  void aim(double azDeg, double elDeg) noexcept {
    const Vec3 d = directionVector(azDeg, elDeg);
    const size_t M = static_cast<size_t>(m_);
    for (size_t k = 0; k < static_cast<size_t>(k_); k++) {
      const double w = 2 * kPi * static_cast<double>(k) * fs_ / n_;
      for (size_t i = 0; i < M; i++) a_[k * M + i] = std::polar(1.0, w * leadSeconds(mics_[i], d));
    }
  }

  // w = R^-1 a / (a^H R^-1 a) from the stored Cholesky factor L (R = L L^H) of bin k:
  // z = L^-1 a, a^H R^-1 a = |z|^2, R^-1 a = L^-H z. O(M^2).
  void solveWeights(int kb) noexcept {
    const size_t M = static_cast<size_t>(m_), k = static_cast<size_t>(kb);
    const cplx* L = &chol_[k * M * M];
    const cplx* a = &a_[k * M];
    double den = 0;
    for (size_t i = 0; i < M; i++) {
      cplx acc = a[i];
      for (size_t j = 0; j < i; j++) acc -= mul(L[i * M + j], tmp_[j]);
      tmp_[i] = acc / L[i * M + i].real();
      den += std::norm(tmp_[i]);
    }
    for (size_t ii = M; ii-- > 0;) {
      cplx acc = tmp_[ii];
      for (size_t j = ii + 1; j < M; j++) acc -= mulConjA(L[j * M + ii], tmp_[j]);
      tmp_[ii] = acc / L[ii * M + ii].real();
    }
    if (!(den > 1e-300) || !std::isfinite(den)) {
      for (size_t i = 0; i < M; i++) wt_[k * M + i] = a[i] / static_cast<double>(m_);
      return;
    }
    for (size_t i = 0; i < M; i++) wt_[k * M + i] = tmp_[i] / den;
  }

  // Cholesky factor of the loaded covariance of bin k into chol_; false (and the old factor
  // kept) if it is not positive definite. O(M^3 / 6).
  bool factor(int kb) noexcept {
    const size_t M = static_cast<size_t>(m_), k = static_cast<size_t>(kb);
    const cplx* r = &r_[k * M * M];
    double trace = 0;
    for (size_t i = 0; i < M; i++) trace += r[i * M + i].real();
    // Scaled to an 8-mic reference: a larger array focuses harder, so the same steering error
    // leaks more of the target into what MPDR treats as interference.
    const double load = loading_[k] * trace * std::max(1.0, m_ / 8.0) / m_ + 1e-20;
    cplx* L = work_.data();
    for (size_t j = 0; j < M; j++) {
      double d = r[j * M + j].real() + load;
      for (size_t q = 0; q < j; q++) d -= std::norm(L[j * M + q]);
      if (!(d > 1e-300)) return false;
      const double ljj = std::sqrt(d);
      L[j * M + j] = ljj;
      for (size_t i = j + 1; i < M; i++) {
        // Only the upper triangle is accumulated: R[i][j] = conj(R[j][i]).
        cplx acc = std::conj(r[j * M + i]);
        for (size_t q = 0; q < j; q++) acc -= mulConjA(L[j * M + q], L[i * M + q]);
        L[i * M + j] = acc / ljj;
      }
    }
    std::copy(L, L + M * M, &chol_[k * M * M]);
    return true;
  }

  void hop() noexcept {
    const size_t M = static_cast<size_t>(m_), K = static_cast<size_t>(k_);
    for (size_t c = 0; c < M; c++) {
      double* f = &inFifo_[c * n_];
      for (int i = 0; i < n_; i++) frame_[static_cast<size_t>(i)] = f[i] * win_[static_cast<size_t>(i)];
      fft_.forward(frame_.data(), spec_.data());
      for (size_t k = 0; k < K; k++) x_[k * M + c] = spec_[k];
      std::memmove(f, f + hop_, sizeof(double) * (n_ - hop_));
    }
    // A non-finite input must not poison the learned covariance for good: skip that frame.
    double energy = 0;
    for (size_t i = 0; i < K * M; i++) energy += std::norm(x_[i]);
    if (adapt_ && std::isfinite(energy)) {
      const double l = lambda_, g = 1 - lambda_;
      for (size_t k = 0; k < K; k++) {
        cplx* r = &r_[k * M * M];
        const cplx* x = &x_[k * M];
        for (size_t i = 0; i < M; i++) {
          const double xr = x[i].real(), xi = x[i].imag();
          for (size_t j = i; j < M; j++) {
            // x_i conj(x_j), written out for speed
            const double yr = x[j].real(), yi = x[j].imag();
            r[i * M + j] = cplx(l * r[i * M + j].real() + g * (xr * yr + xi * yi),
                                l * r[i * M + j].imag() + g * (xi * yr - xr * yi));
          }
        }
      }
      for (int b = 0; b < binsPerHop_; b++) {
        const int k = next_;
        next_ = (next_ + 1) % k_;
        if (factor(k)) solveWeights(k);
      }
    }
    if (steerPending_) {
      steerPending_ = false;
      aim(az_, el_);
      for (int k = 0; k < k_; k++) solveWeights(k);
    }
    for (size_t i = 0; i < K * M; i++) wa_[i] += beta_ * (wt_[i] - wa_[i]);
    for (size_t k = 0; k < K; k++) {
      cplx acc = 0;
      const cplx* w = &wa_[k * M];
      const cplx* x = &x_[k * M];
      for (size_t i = 0; i < M; i++) acc += mulConjA(w[i], x[i]);
      spec_[k] = acc;
    }
    spec_[0] = cplx(spec_[0].real(), 0);
    spec_[K - 1] = cplx(spec_[K - 1].real(), 0);
    fft_.inverse(spec_.data(), frame_.data());
    for (int i = 0; i < n_; i++) outAcc_[static_cast<size_t>(i)] += frame_[static_cast<size_t>(i)] * win_[static_cast<size_t>(i)];
    for (int i = 0; i < hop_; i++) outReady_[static_cast<size_t>(i)] = static_cast<float>(outAcc_[static_cast<size_t>(i)]);
    std::memmove(outAcc_.data(), outAcc_.data() + hop_, sizeof(double) * (n_ - hop_));
    std::fill(outAcc_.begin() + (n_ - hop_), outAcc_.end(), 0.0);
  }

  std::vector<Vec3> mics_;
  double fs_;
  int m_, n_, hop_, k_;  // mics, frame, hop, bins
  RealFft fft_;
  std::vector<double> loading_;
  std::vector<double> win_, inFifo_, outAcc_, frame_;
  std::vector<float> outReady_;
  std::vector<cplx> spec_, x_, r_, chol_, a_, wt_, wa_, work_, tmp_;
  double lambda_ = 0.98, beta_ = 0.4;
  int binsPerHop_ = 16, next_ = 0, pos_ = 0;
  double az_ = 0, el_ = 0;
  bool steerPending_ = false, adapt_ = true;
};

}  // namespace

std::unique_ptr<Beamformer> makeMvdr(const Geometry& g, int maxBlock) {
  return std::make_unique<Mvdr>(g, maxBlock);
}

}  // namespace dsp
