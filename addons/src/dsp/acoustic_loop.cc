#pragma GCC optimize("O3")
#include "dsp/acoustic_loop.h"

#include <algorithm>
#include <cmath>
#include <complex>

#include "dsp/fft.h"

namespace dsp {

namespace {
constexpr double kSoundSpeed = 343.0;
constexpr int kSub = 64;  // the loop runs in sub-blocks no longer than this and the shortest path
constexpr int kHistorySlack = 16384;
}  // namespace

AcousticLoop::AcousticLoop(double sampleRate, const RoomSpec& r, double gainDb)
    : fs_(sampleRate), notches_(sampleRate, kNotches), band_(sampleRate, 2), shift_(sampleRate) {
  const int len = std::max(64, static_cast<int>(r.maxSeconds * sampleRate));
  h_.assign(len, 0.0f);
  std::vector<double> h(len, 0.0);
  const double beta = std::sqrt(std::clamp(1.0 - r.absorption, 0.0, 1.0));
  const int N = std::max(0, r.order);
  for (int nx = -N; nx <= N; ++nx)
    for (int ny = -N; ny <= N; ++ny)
      for (int nz = -N; nz <= N; ++nz)
        for (int p = 0; p < 8; ++p) {
          const int n[3] = {nx, ny, nz};
          const int q[3] = {p & 1, (p >> 1) & 1, (p >> 2) & 1};
          double d2 = 0;
          int refl = 0;
          for (int a = 0; a < 3; ++a) {
            const double img = (1 - 2 * q[a]) * r.speaker[a] + 2 * n[a] * r.size[a];
            d2 += (img - r.mic[a]) * (img - r.mic[a]);
            refl += std::abs(n[a] - q[a]) + std::abs(n[a]);
          }
          if (refl > 2 * N) continue;
          const double d = std::sqrt(d2);
          const int k = static_cast<int>(std::lround(d / kSoundSpeed * sampleRate));
          if (k < 1 || k >= len) continue;
          h[k] += std::pow(beta, refl) / std::max(d, 0.1);
        }
  // Scale: the largest loop gain over frequency (with the band limits) is 1.
  band_.setBand(0, BandParams{BandType::HighPass, 100.0, 0.0, 0.7071, true});
  band_.setBand(1, BandParams{BandType::LowPass, 8000.0, 0.0, 0.7071, true});
  band_.reset();
  const int nfft = nextPow2(len) * 2;
  RealFft fft(nfft);
  std::vector<double> x(nfft, 0.0);
  std::vector<cplx> X(nfft / 2 + 1);
  for (int i = 0; i < len; ++i) x[i] = h[i];
  fft.forward(x.data(), X.data());
  const BiquadCoeffs hp = designBiquad(BandParams{BandType::HighPass, 100.0, 0.0, 0.7071, true}, sampleRate);
  const BiquadCoeffs lp = designBiquad(BandParams{BandType::LowPass, 8000.0, 0.0, 0.7071, true}, sampleRate);
  double peak = 0;
  for (int k = 1; k < nfft / 2; ++k) {
    const double f = k * sampleRate / nfft;
    const double m = std::abs(X[k]) * std::pow(10.0, (magnitudeDb(hp, f, sampleRate) + magnitudeDb(lp, f, sampleRate)) / 20);
    if (m > peak) peak = m, criticalHz_ = f;
  }
  const double scale = peak > 0 ? 1.0 / peak : 1.0;
  double biggest = 0;
  for (int i = 0; i < len; ++i) biggest = std::max(biggest, std::fabs(h[i] * scale));
  for (int i = 0; i < len; ++i) {
    h_[i] = static_cast<float>(h[i] * scale);
    if (std::fabs(h[i] * scale) > 1e-4 * biggest) {
      tapDelay_.push_back(i);
      tapGain_.push_back(h_[i]);
    }
  }
  minDelay_ = tapDelay_.empty() ? 1 : std::max(1, tapDelay_.front());
  // The loudspeaker's history, linear: [w_ - len, w_) are the past samples; when the write index
  // reaches the end, the last len samples move to the front (once every kHistorySlack samples).
  histLen_ = len;
  hist_.assign(static_cast<size_t>(len) + kHistorySlack, 0.0f);
  w_ = static_cast<uint32_t>(len);
  fb_.assign(kSub, 0.0f);
  buf_.assign(kSub, 0.0f);
  notches_.reset();
  setGainDb(gainDb);
}

void AcousticLoop::setGainDb(double db) noexcept {
  if (std::isfinite(db)) gain_ = std::pow(10.0, db / 20);
}

void AcousticLoop::process(const float* src, float* mic, float* spk, int n, float* pre) noexcept {
  const int sub = std::min(kSub, minDelay_);
  const float g = static_cast<float>(gain_);
  const size_t taps = tapDelay_.size();
  for (int start = 0, m = 0; start < n; start += m) {
    m = std::min({sub, n - start, afc_ ? afc_->untilBlockEnd() : sub});
    if (w_ + static_cast<uint32_t>(m) > hist_.size()) {
      std::copy(hist_.end() - histLen_, hist_.end(), hist_.begin());
      w_ = static_cast<uint32_t>(histLen_);
    }
    // Every tap is at least `sub` samples long, so this sub-block's feedback depends only on
    // loudspeaker samples already made; tap by tap, the inner loop runs along contiguous memory.
    float* fb = fb_.data();
    for (int i = 0; i < m; ++i) fb[i] = 0.0f;
    for (size_t t = 0; t < taps; ++t) {
      const float a = tapGain_[t];
      const float* h = hist_.data() + w_ - tapDelay_[t];
      for (int i = 0; i < m; ++i) fb[i] += a * h[i];
    }
    for (int i = 0; i < m; ++i) {
      const float x = src[start + i] + fb[i];
      mic[start + i] = x;
      buf_[i] = x;
    }
    if (afc_) afc_->cancel(buf_.data(), m);
    if (pre) std::copy(buf_.begin(), buf_.begin() + m, pre + start);
    notches_.process(buf_.data(), m);
    shift_.process(buf_.data(), m);
    for (int i = 0; i < m; ++i) buf_[i] *= g;
    band_.process(buf_.data(), m);
    for (int i = 0; i < m; ++i) {
      const float y = std::tanh(buf_[i]);
      spk[start + i] = y;
      hist_[w_ + static_cast<uint32_t>(i)] = y;
    }
    if (afc_) afc_->feed(spk + start, m);
    w_ += static_cast<uint32_t>(m);
  }
}

}  // namespace dsp
