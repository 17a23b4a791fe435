#include "dsp/room_ir.h"

#include <algorithm>
#include <cmath>

#include "dsp/biquad.h"
#include "dsp/fft.h"

namespace dsp {

namespace {
constexpr double kSoundSpeed = 343.0;
}

RoomResponse buildRoomResponse(double sampleRate, const RoomSpec& r) {
  RoomResponse out;
  const int len = std::max(64, static_cast<int>(r.maxSeconds * sampleRate));
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
  // Scale: the largest gain over frequency, with the PA's band limits, is 1.
  const int nfft = nextPow2(len) * 2;
  RealFft fft(nfft);
  std::vector<double> x(nfft, 0.0);
  std::vector<cplx> X(nfft / 2 + 1);
  for (int i = 0; i < len; ++i) x[i] = h[i];
  fft.forward(x.data(), X.data());
  const BiquadCoeffs hp = designBiquad(BandParams{BandType::HighPass, kPaHighPassHz, 0.0, 0.7071, true}, sampleRate);
  const BiquadCoeffs lp = designBiquad(BandParams{BandType::LowPass, kPaLowPassHz, 0.0, 0.7071, true}, sampleRate);
  double peak = 0;
  for (int k = 1; k < nfft / 2; ++k) {
    const double f = k * sampleRate / nfft;
    const double m = std::abs(X[k]) * std::pow(10.0, (magnitudeDb(hp, f, sampleRate) + magnitudeDb(lp, f, sampleRate)) / 20);
    if (m > peak) peak = m, out.criticalHz = f;
  }
  const double scale = peak > 0 ? 1.0 / peak : 1.0;
  double biggest = 0;
  for (int i = 0; i < len; ++i) biggest = std::max(biggest, std::fabs(h[i] * scale));
  out.h.assign(len, 0.0f);
  for (int i = 0; i < len; ++i) {
    out.h[i] = static_cast<float>(h[i] * scale);
    if (std::fabs(h[i] * scale) > 1e-4 * biggest) {
      out.delay.push_back(i);
      out.gain.push_back(out.h[i]);
    }
  }
  out.minDelay = out.delay.empty() ? 1 : std::max(1, out.delay.front());
  return out;
}

}  // namespace dsp
