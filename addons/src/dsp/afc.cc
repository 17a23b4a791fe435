#pragma GCC optimize("O3")
#include "dsp/afc.h"

#include <algorithm>
#include <cmath>

namespace dsp {

namespace {
constexpr int kLpcWindow = 1024;
// The normaliser's floor: the reference's energy were it white noise at -60 dBFS. Without it the
// first blocks of a programme that starts from near silence take steps of e / u with u tiny.
constexpr double kFloorPower = 1e-6;
constexpr double kPi = 3.14159265358979323846;

bool finiteAll(const float* x, int n) noexcept {
  float s = 0;
  for (int i = 0; i < n; ++i) s += x[i] * 0.0f;
  return s == 0.0f;  // any inf or nan makes the sum nan
}
}  // namespace

const char* Afc::check(const AfcOptions& o) noexcept {
  if (o.blockSize < 64 || o.blockSize > 2048 || (o.blockSize & (o.blockSize - 1)) != 0) return "blockSize must be a power of two from 64 to 2048";
  if (o.partitions < 1 || o.partitions > 128) return "partitions must be 1 to 128";
  if (!(o.mu > 0 && o.mu <= 1)) return "mu must be over 0 and at most 1";
  if (o.lpcOrder != 0 && (o.lpcOrder < 2 || o.lpcOrder > 32)) return "lpcOrder must be 0 (off) or 2 to 32";
  if (!(o.lpcUpdateS >= 0.005 && o.lpcUpdateS <= 1)) return "lpcUpdateS must be 0.005 to 1 s";
  if (!(o.regularisation >= 1e-6 && o.regularisation <= 10)) return "regularisation must be 1e-6 to 10";
  return nullptr;
}

Afc::Afc(double sampleRate, const AfcOptions& o)
    : o_(o),
      B_(o.blockSize),
      P_(o.partitions),
      N_(2 * o.blockSize),
      K_(o.blockSize + 1),
      Q_(o.lpcOrder),
      lpcEvery_(std::max(1, static_cast<int>(std::lround(o.lpcUpdateS * sampleRate / o.blockSize)))),
      fft_(2 * o.blockSize) {
  const size_t pk = static_cast<size_t>(P_) * K_;
  W_.assign(pk, cf(0, 0));
  X_.assign(pk, cf(0, 0));
  Xw_.assign(pk, cf(0, 0));
  norm_.assign(K_, 0.0f);
  for (auto* v : {&u_, &uw_, &uPrev_, &uwPrev_, &e_, &ew_, &yhat_}) v->assign(B_, 0.0f);
  uHist_.assign(std::max(1, Q_), 0.0f);
  eHist_.assign(std::max(1, Q_), 0.0f);
  uLong_.assign(static_cast<size_t>(P_ + 1) * B_ + Q_, 0.0f);
  a_.assign(Q_ + 1, 0.0f);
  a_[0] = 1.0f;
  lpcBuf_.assign(kLpcWindow, 0.0f);
  lpcWin_.resize(kLpcWindow);
  for (int i = 0; i < kLpcWindow; ++i) lpcWin_[i] = 0.5 - 0.5 * std::cos(2 * kPi * (i + 0.5) / kLpcWindow);
  // Gaussian lag window (60 Hz) and the +40 dB floor on r[0] keep A(z) from whitening a line to a
  // needle (and the Levinson recursion well conditioned).
  r_.assign(Q_ + 1, 0.0);
  tmpA_.assign(Q_ + 1, 0.0);
  tmpB_.assign(Q_ + 1, 0.0);
  tbuf_.assign(N_, 0.0f);
  fbuf_.assign(K_, cf(0, 0));
  E_.assign(K_, cf(0, 0));
  lagWin_.resize(Q_ + 1);
  for (int i = 0; i <= Q_; ++i) lagWin_[i] = std::exp(-0.5 * std::pow(2 * kPi * 60.0 * i / sampleRate, 2));
}

void Afc::cancel(float* x, int n) noexcept {
  n = std::min(n, B_ - pos_);
  for (int i = 0; i < n; ++i) {
    const float e = x[i] - yhat_[pos_ + i];
    e_[pos_ + i] = e;
    x[i] = e;
  }
}

void Afc::feed(const float* u, int n) noexcept {
  n = std::min(n, B_ - pos_);
  std::copy(u, u + n, u_.data() + pos_);
  pos_ += n;
  if (pos_ == B_) {
    endBlock();
    pos_ = 0;
  }
}

// A(z) applied to x (B samples) into y; hist holds the last Q inputs, newest last.
static void whiten(const float* a, int q, const float* x, float* y, float* hist, int n) noexcept {
  if (q == 0) {
    std::copy(x, x + n, y);
    return;
  }
  for (int i = 0; i < n; ++i) {
    float s = x[i];
    for (int j = 1; j <= q; ++j) s += a[j] * (i - j >= 0 ? x[i - j] : hist[q + i - j]);
    y[i] = s;
  }
  // The last q inputs (n >= q: B >= 64 > 32).
  std::copy(x + n - q, x + n, hist);
}

void Afc::endBlock() noexcept {
  ++blocks_;
  const bool good = finiteAll(e_.data(), B_) && finiteAll(u_.data(), B_);
  if (!good) {
    std::fill(e_.begin(), e_.end(), 0.0f);
    std::fill(u_.begin(), u_.end(), 0.0f);
  }
  // The error's history for the LPC, and its whitened block.
  std::copy(lpcBuf_.begin() + B_ % kLpcWindow, lpcBuf_.end(), lpcBuf_.begin());
  if (B_ >= kLpcWindow) std::copy(e_.end() - kLpcWindow, e_.end(), lpcBuf_.begin());
  else std::copy(e_.begin(), e_.end(), lpcBuf_.end() - B_);
  whiten(a_.data(), Q_, e_.data(), ew_.data(), eHist_.data(), B_);
  whiten(a_.data(), Q_, u_.data(), uw_.data(), uHist_.data(), B_);

  const size_t K = static_cast<size_t>(K_);
  // 1. Update: the whitened error against the whitened reference spectra the estimate of this
  //    block was made with (newest at head_).
  if (good && blocks_ > 1) {
    std::fill(tbuf_.begin(), tbuf_.begin() + B_, 0.0f);
    std::copy(ew_.begin(), ew_.end(), tbuf_.begin() + B_);
    fft_.forward(tbuf_.data(), E_.data());
    std::fill(norm_.begin(), norm_.end(), 0.0f);
    for (int p = 0; p < P_; ++p) {
      const cf* X = Xw_.data() + p * K;
      for (size_t k = 0; k < K; ++k) norm_[k] += std::norm(X[k]);
    }
    double mean = 0;
    for (size_t k = 0; k < K; ++k) mean += norm_[k];
    mean /= static_cast<double>(K);
    const float delta = static_cast<float>(o_.regularisation * mean + kFloorPower * N_ * P_);
    const float mu = static_cast<float>(o_.mu);
    for (size_t k = 0; k < K; ++k) E_[k] *= mu / (norm_[k] + delta);
    for (int p = 0; p < P_; ++p) {
      // Partition p's reference is the one p blocks older than the newest.
      const int slot = (head_ + p) % P_;
      const cf* X = Xw_.data() + slot * K;
      for (size_t k = 0; k < K; ++k) fbuf_[k] = std::conj(X[k]) * E_[k];
      fft_.inverse(fbuf_.data(), tbuf_.data());
      std::fill(tbuf_.begin() + B_, tbuf_.end(), 0.0f);
      fft_.forward(tbuf_.data(), fbuf_.data());
      cf* W = W_.data() + p * K;
      for (size_t k = 0; k < K; ++k) W[k] += fbuf_[k];
    }
  }
  // 2. This block's reference becomes the newest partition: [previous block, this block].
  head_ = (head_ + P_ - 1) % P_;
  std::copy(uPrev_.begin(), uPrev_.end(), tbuf_.begin());
  std::copy(u_.begin(), u_.end(), tbuf_.begin() + B_);
  fft_.forward(tbuf_.data(), X_.data() + head_ * K);
  std::copy(uwPrev_.begin(), uwPrev_.end(), tbuf_.begin());
  std::copy(uw_.begin(), uw_.end(), tbuf_.begin() + B_);
  fft_.forward(tbuf_.data(), Xw_.data() + head_ * K);
  std::copy(uLong_.begin() + B_, uLong_.end(), uLong_.begin());
  std::copy(u_.begin(), u_.end(), uLong_.end() - B_);
  uPrev_.swap(u_);
  uwPrev_.swap(uw_);
  // 3. The next block's estimate.
  std::fill(fbuf_.begin(), fbuf_.end(), cf(0, 0));
  for (int p = 0; p < P_; ++p) {
    const cf* X = X_.data() + ((head_ + p) % P_) * K;
    const cf* W = W_.data() + p * K;
    for (size_t k = 0; k < K; ++k) fbuf_[k] += W[k] * X[k];
  }
  fft_.inverse(fbuf_.data(), tbuf_.data());
  std::copy(tbuf_.begin() + B_, tbuf_.end(), yhat_.begin());
  // 4. The whitening filter.
  if (Q_ > 0 && ++lpcCount_ >= lpcEvery_) {
    lpcCount_ = 0;
    if (refitLpc()) rewhiten();
  }
}

// Every partition's whitened reference again, with the current A(z), from the raw reference.
void Afc::rewhiten() noexcept {
  const size_t K = static_cast<size_t>(K_);
  const int span = (P_ + 1) * B_;
  const float* base = uLong_.data() + Q_;  // base[0] is the oldest sample of the span
  for (int p = 0; p < P_; ++p) {
    // Partition p (0: newest) covers blocks p + 1 and p counted back from the newest.
    const int from = span - (p + 2) * B_;
    for (int i = 0; i < N_; ++i) {
      const float* x = base + from + i;
      float s = x[0];
      for (int j = 1; j <= Q_; ++j) s += a_[j] * x[-j];
      tbuf_[i] = s;
    }
    if (p == 0) std::copy(tbuf_.begin() + B_, tbuf_.end(), uwPrev_.begin());
    fft_.forward(tbuf_.data(), Xw_.data() + ((head_ + p) % P_) * K);
  }
}

bool Afc::refitLpc() noexcept {
  for (int l = 0; l <= Q_; ++l) {
    double s = 0;
    for (int i = l; i < kLpcWindow; ++i) s += lpcBuf_[i] * lpcWin_[i] * lpcBuf_[i - l] * lpcWin_[i - l];
    r_[l] = s * lagWin_[l];
  }
  if (!(r_[0] > 1e-12) || !std::isfinite(r_[0])) return false;  // silence: keep the last filter
  r_[0] *= 1.0001;
  // Levinson-Durbin: tmpA_ holds a[0..Q] with a[0] = 1.
  std::fill(tmpA_.begin(), tmpA_.end(), 0.0);
  tmpA_[0] = 1;
  double err = r_[0];
  for (int i = 1; i <= Q_; ++i) {
    double acc = r_[i];
    for (int j = 1; j < i; ++j) acc += tmpA_[j] * r_[i - j];
    const double k = -acc / err;
    if (!(std::fabs(k) < 1)) return false;  // not minimum phase: keep the last filter
    for (int j = 0; j <= i; ++j) tmpB_[j] = tmpA_[j];
    for (int j = 1; j < i; ++j) tmpA_[j] = tmpB_[j] + k * tmpB_[i - j];
    tmpA_[i] = k;
    err *= 1 - k * k;
  }
  for (int i = 0; i <= Q_; ++i) a_[i] = static_cast<float>(tmpA_[i]);
  return true;
}

void Afc::taps(float* out, int len) noexcept {
  std::fill(out, out + len, 0.0f);
  const size_t K = static_cast<size_t>(K_);
  for (int p = 0; p < P_; ++p) {
    std::copy(W_.begin() + p * K, W_.begin() + (p + 1) * K, fbuf_.begin());
    fft_.inverse(fbuf_.data(), tbuf_.data());
    for (int j = 0; j < B_; ++j) {
      const int lag = (p + 1) * B_ + j;
      if (lag < len) out[lag] = tbuf_[j];
    }
  }
}

}  // namespace dsp
