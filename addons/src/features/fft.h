// Small in-place radix-2 FFTs for the feature extractors: a complex one, and a real-input one that
// runs through a complex FFT of half the size (half the work of transforming a real frame as a
// complex one). Twiddles and the bit-reversal table are computed at construction; transforms
// never allocate.
#pragma once
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstring>
#include <vector>

namespace features {

class Fft {
 public:
  // n must be a power of two (checked by the callers' constructors).
  explicit Fft(size_t n) : n_(n), rev_(n) {
    const double pi = 3.14159265358979323846;
    size_t bits = 0;
    while ((size_t(1) << bits) < n) ++bits;
    for (size_t i = 0; i < n; ++i) {
      size_t r = 0;
      for (size_t b = 0; b < bits; ++b) r |= ((i >> b) & 1u) << (bits - 1 - b);
      rev_[i] = r;
    }
    // Per stage, the twiddles that stage uses, contiguous (a stage of length L holds L/2).
    for (size_t len = 2; len <= n; len <<= 1)
      for (size_t j = 0; j < len / 2; ++j) {
        twiddle_.push_back(static_cast<float>(std::cos(-2.0 * pi * j / len)));
        twiddle_.push_back(static_cast<float>(std::sin(-2.0 * pi * j / len)));
      }
  }

  size_t size() const { return n_; }

  static bool isPowerOfTwo(size_t n) { return n >= 2 && (n & (n - 1)) == 0; }

  void transform(std::complex<float>* x) const noexcept {
    for (size_t i = 0; i < n_; ++i) {
      if (i < rev_[i]) std::swap(x[i], x[rev_[i]]);
    }
    // Raw floats: std::complex's operator* checks for inf/NaN results on every product.
    float* d = reinterpret_cast<float*>(x);
    const float* tw = twiddle_.data();
    for (size_t len = 2; len <= n_; len <<= 1) {
      const size_t half = len / 2;
      for (size_t i = 0; i < n_; i += len) {
        float* a = d + 2 * i;
        float* b = d + 2 * (i + half);
        for (size_t j = 0; j < half; ++j) {
          const float wr = tw[2 * j], wi = tw[2 * j + 1];
          const float br = b[2 * j] * wr - b[2 * j + 1] * wi, bi = b[2 * j] * wi + b[2 * j + 1] * wr;
          const float ar = a[2 * j], ai = a[2 * j + 1];
          a[2 * j] = ar + br, a[2 * j + 1] = ai + bi;
          b[2 * j] = ar - br, b[2 * j + 1] = ai - bi;
        }
      }
      tw += 2 * half;
    }
  }

 private:
  size_t n_;
  std::vector<float> twiddle_;  // interleaved re, im, stage after stage
  std::vector<size_t> rev_;
};

// FFT of n real samples (n a power of two, >= 4): even and odd samples as one complex signal of
// n/2 points, then one split pass. Output: bins 0..n/2.
class RealFft {
 public:
  explicit RealFft(size_t n) : n_(n), half_(n / 2), z_(n / 2), w_(n / 2 + 1) {
    const double pi = 3.14159265358979323846;
    for (size_t k = 0; k <= n / 2; ++k) w_[k] = std::complex<float>(static_cast<float>(std::cos(-2.0 * pi * k / n)), static_cast<float>(std::sin(-2.0 * pi * k / n)));
  }

  size_t size() const { return n_; }

  // in: n samples; out: n/2 + 1 bins. Not reentrant (one scratch buffer per instance).
  void forward(const float* in, std::complex<float>* out) noexcept {
    const size_t h = n_ / 2;
    // The even and odd samples are already the interleaved re/im layout of z.
    std::memcpy(reinterpret_cast<float*>(z_.data()), in, sizeof(float) * n_);
    half_.transform(z_.data());
    // Raw floats throughout (std::complex temporaries went through the stack, 4x slower).
    const float* z = reinterpret_cast<const float*>(z_.data());
    const float* w = reinterpret_cast<const float*>(w_.data());
    float* o = reinterpret_cast<float*>(out);
    for (size_t k = 0; k <= h; ++k) {
      // E = (Z[k] + conj Z[h-k]) / 2 (even samples), O = (Z[k] - conj Z[h-k]) / 2j (odd),
      // X[k] = E + W^k O.
      const size_t a = k == h ? 0 : k, c = k == 0 ? 0 : h - k;
      const float zr = z[2 * a], zi = z[2 * a + 1], cr = z[2 * c], ci = z[2 * c + 1];
      const float er = 0.5f * (zr + cr), ei = 0.5f * (zi - ci);
      const float orr = 0.5f * (zi + ci), oi = -0.5f * (zr - cr);
      const float wr = w[2 * k], wi = w[2 * k + 1];
      o[2 * k] = er + orr * wr - oi * wi;
      o[2 * k + 1] = ei + orr * wi + oi * wr;
    }
  }

 private:
  size_t n_;
  Fft half_;
  std::vector<std::complex<float>> z_;
  std::vector<std::complex<float>> w_;  // e^{-j 2 pi k / n}, k <= n/2
};

}  // namespace features
