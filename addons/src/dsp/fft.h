// Radix-2 FFTs for the STFT beamformer and the DOA estimator. Tables are built in the
// constructor; transforms are noexcept and allocate nothing.
#pragma once
#include <complex>
#include <vector>

namespace dsp {

using cplx = std::complex<double>;

// In-place complex FFT of a power-of-two size.
class ComplexFft {
 public:
  explicit ComplexFft(int n);
  int size() const noexcept { return n_; }
  // Forward: X[k] = sum x[n] e^{-j 2 pi k n / N}. Inverse includes the 1/N.
  void forward(cplx* x) const noexcept;
  void inverse(cplx* x) const noexcept;

 private:
  int n_;
  std::vector<int> rev_;
  std::vector<cplx> tw_;  // e^{-j 2 pi k / N}, k < N/2
  std::vector<cplx> stageTw_;
};

// Real-input FFT of size N through one complex FFT of size N/2.
class RealFft {
 public:
  explicit RealFft(int n);
  int size() const noexcept { return n_; }
  // in: N samples; out: N/2 + 1 bins.
  void forward(const double* in, cplx* out) noexcept;
  // in: N/2 + 1 bins (Hermitian spectrum of a real signal); out: N samples (with the 1/N).
  void inverse(const cplx* in, double* out) noexcept;

 private:
  int n_;
  ComplexFft half_;
  std::vector<cplx> z_;
  std::vector<cplx> w_;  // e^{-j 2 pi k / N}, k <= N/2
};

// Smallest power of two >= n (n >= 1).
int nextPow2(int n) noexcept;

}  // namespace dsp
