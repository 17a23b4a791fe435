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

template <typename T>
BasicComplexFft<T>::BasicComplexFft(int n) : n_(n), rev_(static_cast<size_t>(n)) {
  int bits = 0;
  while ((1 << bits) < n) bits++;
  for (int i = 0; i < n; i++) {
    int r = 0;
    for (int b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    rev_[static_cast<size_t>(i)] = r;
  }
  // Per stage, the twiddles that stage uses, contiguous: stage of length L holds L/2 of them.
  // Computed in double for both precisions (e^{-j 2 pi j / L}).
  for (int len = 2; len <= n; len <<= 1)
    for (int j = 0; j < len / 2; j++) {
      const std::complex<double> w = std::polar(1.0, -2 * kPi * (j * (n / len)) / n);
      stageTw_.emplace_back(static_cast<T>(w.real()), static_cast<T>(w.imag()));
    }
}

template <typename T>
void BasicComplexFft<T>::forward(std::complex<T>* x) const noexcept {
  const int n = n_;
  for (int i = 0; i < n; i++) {
    const int r = rev_[static_cast<size_t>(i)];
    if (r > i) std::swap(x[i], x[r]);
  }
  // Raw scalars: std::complex's operator* guards inf/NaN through a slow library call.
  T* d = reinterpret_cast<T*>(x);
  const T* tw = reinterpret_cast<const T*>(stageTw_.data());
  // The first two stages need no multiplications (twiddles 1 and -j): done as one radix-4 pass.
  int len = 2, off = 0;
  if (n >= 4) {
    for (int i = 0; i < n; i += 4) {
      T* p = d + 2 * i;
      const T ar = p[0] + p[2], ai = p[1] + p[3], br = p[0] - p[2], bi = p[1] - p[3];
      const T cr = p[4] + p[6], ci = p[5] + p[7], dr = p[4] - p[6], di = p[5] - p[7];
      p[0] = ar + cr, p[1] = ai + ci, p[4] = ar - cr, p[5] = ai - ci;
      // (dr + j di) * -j = di - j dr
      p[2] = br + di, p[3] = bi - dr, p[6] = br - di, p[7] = bi + dr;
    }
    off = 1 + 2, len = 8;
  }
  for (; len <= n; off += len / 2, len <<= 1) {
    const int half = len >> 1;
    for (int i = 0; i < n; i += len) {
      T* a = d + 2 * i;
      T* b = d + 2 * (i + half);
      const T* w = tw + 2 * off;
      for (int j = 0; j < half; j++) {
        const T wr = w[2 * j], wi = w[2 * j + 1];
        const T br = b[2 * j] * wr - b[2 * j + 1] * wi, bi = b[2 * j] * wi + b[2 * j + 1] * wr;
        const T ar = a[2 * j], ai = a[2 * j + 1];
        a[2 * j] = ar + br, a[2 * j + 1] = ai + bi;
        b[2 * j] = ar - br, b[2 * j + 1] = ai - bi;
      }
    }
  }
}

template <typename T>
void BasicComplexFft<T>::inverse(std::complex<T>* x) const noexcept {
  for (int i = 0; i < n_; i++) x[i] = std::conj(x[i]);
  forward(x);
  const T s = T(1) / static_cast<T>(n_);
  for (int i = 0; i < n_; i++) x[i] = std::conj(x[i]) * s;
}

template <typename T>
BasicRealFft<T>::BasicRealFft(int n) : n_(n), half_(n / 2), z_(static_cast<size_t>(n / 2)), w_(static_cast<size_t>(n / 2 + 1)) {
  for (int k = 0; k <= n / 2; k++) {
    const std::complex<double> w = std::polar(1.0, -2 * kPi * k / n);
    w_[static_cast<size_t>(k)] = std::complex<T>(static_cast<T>(w.real()), static_cast<T>(w.imag()));
  }
}

// Both directions work on raw scalars: std::complex temporaries in these loops went through the
// stack and made the O(N) pre/post passes cost more than the FFT itself.
template <typename T>
void BasicRealFft<T>::forward(const T* in, std::complex<T>* out) noexcept {
  const int h = n_ / 2;
  T* z = reinterpret_cast<T*>(z_.data());
  // Even and odd samples are already the interleaved re/im layout of z.
  for (int i = 0; i < n_; i++) z[i] = in[i];
  half_.forward(z_.data());
  const T* w = reinterpret_cast<const T*>(w_.data());
  T* o = reinterpret_cast<T*>(out);
  for (int k = 0; k <= h; k++) {
    // E = (Z[k] + conj Z[h-k]) / 2, O = (Z[k] - conj Z[h-k]) / 2j, X[k] = E + W^k O.
    const int a = k == h ? 0 : k, c = k == 0 ? 0 : h - k;
    const T zr = z[2 * a], zi = z[2 * a + 1], cr = z[2 * c], ci = z[2 * c + 1];
    const T er = T(0.5) * (zr + cr), ei = T(0.5) * (zi - ci);
    const T fr = T(0.5) * (zi + ci), fi = -T(0.5) * (zr - cr);
    const T wr = w[2 * k], wi = w[2 * k + 1];
    o[2 * k] = er + fr * wr - fi * wi;
    o[2 * k + 1] = ei + fr * wi + fi * wr;
  }
}

template <typename T>
void BasicRealFft<T>::inverse(const std::complex<T>* in, T* out) noexcept {
  const int h = n_ / 2;
  const T* x = reinterpret_cast<const T*>(in);
  const T* w = reinterpret_cast<const T*>(w_.data());
  T* z = reinterpret_cast<T*>(z_.data());
  for (int k = 0; k < h; k++) {
    // E = (X[k] + conj X[h-k]) / 2, O = (X[k] - conj X[h-k]) / 2 * conj W^k, Z[k] = E + j O.
    const T xr = x[2 * k], xi = x[2 * k + 1], cr = x[2 * (h - k)], ci = -x[2 * (h - k) + 1];
    const T er = T(0.5) * (xr + cr), ei = T(0.5) * (xi + ci);
    const T dr = T(0.5) * (xr - cr), di = T(0.5) * (xi - ci), wr = w[2 * k], wi = w[2 * k + 1];
    const T fr = dr * wr + di * wi, fi = di * wr - dr * wi;
    z[2 * k] = er - fi;
    z[2 * k + 1] = ei + fr;
  }
  half_.inverse(z_.data());
  for (int i = 0; i < n_; i++) out[i] = z[i];
}

template class BasicComplexFft<double>;
template class BasicComplexFft<float>;
template class BasicRealFft<double>;
template class BasicRealFft<float>;

}  // namespace dsp
