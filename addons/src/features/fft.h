// A small in-place radix-2 complex FFT for the feature extractors. Twiddles and the bit-reversal
// table are computed at construction; transform() never allocates.
#pragma once
#include <cmath>
#include <complex>
#include <cstddef>
#include <vector>

namespace features {

class Fft {
 public:
  // n must be a power of two (checked by the callers' constructors).
  explicit Fft(size_t n) : n_(n), twiddle_(n / 2), rev_(n) {
    const double pi = 3.14159265358979323846;
    for (size_t k = 0; k < n / 2; ++k) {
      twiddle_[k] = std::complex<float>(static_cast<float>(std::cos(-2.0 * pi * k / n)),
                                        static_cast<float>(std::sin(-2.0 * pi * k / n)));
    }
    size_t bits = 0;
    while ((size_t(1) << bits) < n) ++bits;
    for (size_t i = 0; i < n; ++i) {
      size_t r = 0;
      for (size_t b = 0; b < bits; ++b) r |= ((i >> b) & 1u) << (bits - 1 - b);
      rev_[i] = r;
    }
  }

  size_t size() const { return n_; }

  static bool isPowerOfTwo(size_t n) { return n >= 2 && (n & (n - 1)) == 0; }

  void transform(std::complex<float>* x) const noexcept {
    for (size_t i = 0; i < n_; ++i) {
      if (i < rev_[i]) std::swap(x[i], x[rev_[i]]);
    }
    for (size_t len = 2; len <= n_; len <<= 1) {
      const size_t half = len / 2, step = n_ / len;
      for (size_t i = 0; i < n_; i += len) {
        for (size_t j = 0; j < half; ++j) {
          const std::complex<float> t = twiddle_[j * step] * x[i + j + half];
          x[i + j + half] = x[i + j] - t;
          x[i + j] += t;
        }
      }
    }
  }

 private:
  size_t n_;
  std::vector<std::complex<float>> twiddle_;
  std::vector<size_t> rev_;
};

}  // namespace features
