// The addon's one FFT: radix-2, power-of-two sizes, in double (the audio path: the STFT/MVDR
// beamformer and the DOA estimator) and in float (the feature thread: log-mel, band spectrum).
// One implementation, instantiated for both in fft.cc (which carries its own O3); tables are built
// in the constructor; transforms are noexcept and allocate nothing. Figures: tests/bench/fft.bench.ts.
#pragma once
#include <complex>
#include <vector>

namespace dsp {

using cplx = std::complex<double>;

// In-place complex FFT of a power-of-two size.
template <typename T>
class BasicComplexFft {
 public:
  explicit BasicComplexFft(int n);
  int size() const noexcept { return n_; }
  // Forward: X[k] = sum x[n] e^{-j 2 pi k n / N}. Inverse includes the 1/N.
  void forward(std::complex<T>* x) const noexcept;
  void inverse(std::complex<T>* x) const noexcept;

 private:
  int n_;
  std::vector<int> rev_;
  std::vector<std::complex<T>> stageTw_;  // per stage, that stage's twiddles, contiguous
};

// Real-input FFT of size N (>= 4) through one complex FFT of size N/2. Not reentrant: one
// scratch buffer per instance.
template <typename T>
class BasicRealFft {
 public:
  explicit BasicRealFft(int n);
  int size() const noexcept { return n_; }
  // in: N samples; out: N/2 + 1 bins.
  void forward(const T* in, std::complex<T>* out) noexcept;
  // in: N/2 + 1 bins (Hermitian spectrum of a real signal); out: N samples (with the 1/N).
  void inverse(const std::complex<T>* in, T* out) noexcept;

 private:
  int n_;
  BasicComplexFft<T> half_;
  std::vector<std::complex<T>> z_;
  std::vector<std::complex<T>> w_;  // e^{-j 2 pi k / N}, k <= N/2
};

extern template class BasicComplexFft<double>;
extern template class BasicComplexFft<float>;
extern template class BasicRealFft<double>;
extern template class BasicRealFft<float>;

using ComplexFft = BasicComplexFft<double>;
using RealFft = BasicRealFft<double>;

// Smallest power of two >= n (n >= 1).
int nextPow2(int n) noexcept;

}  // namespace dsp
