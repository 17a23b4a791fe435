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

// Both directions work on raw doubles: std::complex temporaries in these loops went through the
// stack and made the O(N) pre/post passes cost more than the FFT itself.
void RealFft::forward(const double* in, cplx* out) noexcept {
  const int h = n_ / 2;
  double* z = reinterpret_cast<double*>(z_.data());
  // Even and odd samples are already the interleaved re/im layout of z.
  for (int i = 0; i < n_; i++) z[i] = in[i];
  half_.forward(z_.data());
  const double* w = reinterpret_cast<const double*>(w_.data());
  double* o = reinterpret_cast<double*>(out);
  for (int k = 0; k <= h; k++) {
    // E = (Z[k] + conj Z[h-k]) / 2, O = (Z[k] - conj Z[h-k]) / 2j, X[k] = E + W^k O.
    const int a = k == h ? 0 : k, c = k == 0 ? 0 : h - k;
    const double zr = z[2 * a], zi = z[2 * a + 1], cr = z[2 * c], ci = z[2 * c + 1];
    const double er = 0.5 * (zr + cr), ei = 0.5 * (zi - ci);
    const double fr = 0.5 * (zi + ci), fi = -0.5 * (zr - cr);
    const double wr = w[2 * k], wi = w[2 * k + 1];
    o[2 * k] = er + fr * wr - fi * wi;
    o[2 * k + 1] = ei + fr * wi + fi * wr;
  }
}

void RealFft::inverse(const cplx* in, double* out) noexcept {
  const int h = n_ / 2;
  const double* x = reinterpret_cast<const double*>(in);
  const double* w = reinterpret_cast<const double*>(w_.data());
  double* z = reinterpret_cast<double*>(z_.data());
  for (int k = 0; k < h; k++) {
    // E = (X[k] + conj X[h-k]) / 2, O = (X[k] - conj X[h-k]) / 2 * conj W^k, Z[k] = E + j O.
    const double xr = x[2 * k], xi = x[2 * k + 1], cr = x[2 * (h - k)], ci = -x[2 * (h - k) + 1];
    const double er = 0.5 * (xr + cr), ei = 0.5 * (xi + ci);
    const double dr = 0.5 * (xr - cr), di = 0.5 * (xi - ci), wr = w[2 * k], wi = w[2 * k + 1];
    const double fr = dr * wr + di * wi, fi = di * wr - dr * wi;
    z[2 * k] = er - fi;
    z[2 * k + 1] = ei + fr;
  }
  half_.inverse(z_.data());
  for (int i = 0; i < n_; i++) out[i] = z[i];
}

}  // namespace dsp
