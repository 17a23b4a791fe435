#pragma GCC optimize("O3")
#include "dsp/fft.h"

#include <cmath>

#include "dsp/geometry.h"

namespace dsp {

int nextPow2(int n) noexcept {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

ComplexFft::ComplexFft(int n) : n_(n), rev_(static_cast<size_t>(n)), tw_(static_cast<size_t>(n / 2 > 0 ? n / 2 : 1)) {
  int bits = 0;
  while ((1 << bits) < n) bits++;
  for (int i = 0; i < n; i++) {
    int r = 0;
    for (int b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    rev_[static_cast<size_t>(i)] = r;
  }
  for (int k = 0; k < n / 2; k++) tw_[static_cast<size_t>(k)] = std::polar(1.0, -2 * kPi * k / n);
  // Per stage, the twiddles that stage uses, contiguous: stage of length L holds L/2 of them.
  for (int len = 2; len <= n; len <<= 1)
    for (int j = 0; j < len / 2; j++) stageTw_.push_back(tw_[static_cast<size_t>(j * (n / len))]);
}

void ComplexFft::forward(cplx* x) const noexcept {
  const int n = n_;
  for (int i = 0; i < n; i++) {
    const int r = rev_[static_cast<size_t>(i)];
    if (r > i) std::swap(x[i], x[r]);
  }
  // Raw doubles: std::complex's operator* guards inf/NaN through a slow library call.
  double* d = reinterpret_cast<double*>(x);
  const double* tw = reinterpret_cast<const double*>(stageTw_.data());
  // The first two stages need no multiplications (twiddles 1 and -j): done as one radix-4 pass.
  int len = 2, off = 0;
  if (n >= 4) {
    for (int i = 0; i < n; i += 4) {
      double* p = d + 2 * i;
      const double ar = p[0] + p[2], ai = p[1] + p[3], br = p[0] - p[2], bi = p[1] - p[3];
      const double cr = p[4] + p[6], ci = p[5] + p[7], dr = p[4] - p[6], di = p[5] - p[7];
      p[0] = ar + cr, p[1] = ai + ci, p[4] = ar - cr, p[5] = ai - ci;
      // (dr + j di) * -j = di - j dr
      p[2] = br + di, p[3] = bi - dr, p[6] = br - di, p[7] = bi + dr;
    }
    off = 1 + 2, len = 8;
  }
  for (; len <= n; off += len / 2, len <<= 1) {
    const int half = len >> 1;
    for (int i = 0; i < n; i += len) {
      double* a = d + 2 * i;
      double* b = d + 2 * (i + half);
      const double* w = tw + 2 * off;
      for (int j = 0; j < half; j++) {
        const double wr = w[2 * j], wi = w[2 * j + 1];
        const double br = b[2 * j] * wr - b[2 * j + 1] * wi, bi = b[2 * j] * wi + b[2 * j + 1] * wr;
        const double ar = a[2 * j], ai = a[2 * j + 1];
        a[2 * j] = ar + br, a[2 * j + 1] = ai + bi;
        b[2 * j] = ar - br, b[2 * j + 1] = ai - bi;
      }
    }
  }
}

void ComplexFft::inverse(cplx* x) const noexcept {
  for (int i = 0; i < n_; i++) x[i] = std::conj(x[i]);
  forward(x);
  const double s = 1.0 / n_;
  for (int i = 0; i < n_; i++) x[i] = std::conj(x[i]) * s;
}

RealFft::RealFft(int n) : n_(n), half_(n / 2), z_(static_cast<size_t>(n / 2)), w_(static_cast<size_t>(n / 2 + 1)) {
  for (int k = 0; k <= n / 2; k++) w_[static_cast<size_t>(k)] = std::polar(1.0, -2 * kPi * k / n);
}

void RealFft::forward(const double* in, cplx* out) noexcept {
  const int h = n_ / 2;
  for (int i = 0; i < h; i++) z_[static_cast<size_t>(i)] = cplx(in[2 * i], in[2 * i + 1]);
  half_.forward(z_.data());
  for (int k = 0; k <= h; k++) {
    const cplx zk = z_[static_cast<size_t>(k == h ? 0 : k)], zc = std::conj(z_[static_cast<size_t>(k == 0 ? 0 : h - k)]);
    const cplx fe = 0.5 * (zk + zc);
    const cplx df = zk - zc;
    const cplx fo(0.5 * df.imag(), -0.5 * df.real());  // (zk - zc) / 2j
    const cplx w = w_[static_cast<size_t>(k)];
    out[k] = fe + cplx(fo.real() * w.real() - fo.imag() * w.imag(), fo.real() * w.imag() + fo.imag() * w.real());
  }
}

void RealFft::inverse(const cplx* in, double* out) noexcept {
  const int h = n_ / 2;
  for (int k = 0; k < h; k++) {
    const cplx xk = in[k], xc = std::conj(in[h - k]);
    const cplx fe = 0.5 * (xk + xc);
    const cplx df = 0.5 * (xk - xc), w = w_[static_cast<size_t>(k)];
    const cplx fo(df.real() * w.real() + df.imag() * w.imag(), df.imag() * w.real() - df.real() * w.imag());
    z_[static_cast<size_t>(k)] = cplx(fe.real() - fo.imag(), fe.imag() + fo.real());
  }
  half_.inverse(z_.data());
  for (int i = 0; i < h; i++) {
    out[2 * i] = z_[static_cast<size_t>(i)].real();
    out[2 * i + 1] = z_[static_cast<size_t>(i)].imag();
  }
}

}  // namespace dsp
