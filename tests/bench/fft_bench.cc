// FFT micro-benchmark: the addon's one FFT (addons/src/dsp/fft.h) on the sizes the firmware uses:
// real 256 and 512 (the STFT/MVDR beamformer at 48 and 96 kHz), complex 512 (the DOA estimator's
// 1024-sample frames as one complex FFT of half the size), real 512 (log-mel) and real 2048 (band
// spectrum). Each size in double (what the audio path uses) and float (what the feature thread
// uses), measured in interleaved rounds so both see the same load; the best round counts.
// Prints one tab-separated line per case: ns per forward transform in double and float, their
// ratio, and the largest error of each against a direct DFT in long double, relative to the peak.
// Built and run by tests/bench/fft.bench.ts with the addon's flags (-O2; fft.cc carries its O3).
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "dsp/fft.h"

namespace {

using Clock = std::chrono::steady_clock;
using lcplx = std::complex<long double>;
volatile double sink = 0;

std::vector<double> noise(int n, unsigned seed) {
  std::vector<double> x(static_cast<size_t>(n));
  for (auto& v : x) {
    seed = seed * 1664525u + 1013904223u;
    v = (seed >> 8) / 16777216.0 - 0.5;
  }
  return x;
}

// Direct DFT of x (re + j im), bins 0..bins-1.
std::vector<lcplx> dft(const std::vector<double>& re, const std::vector<double>& im, int bins) {
  const int n = static_cast<int>(re.size());
  const long double pi = 3.141592653589793238462643383279502884L;
  std::vector<lcplx> out(static_cast<size_t>(bins));
  for (int k = 0; k < bins; ++k) {
    lcplx acc = 0;
    for (int i = 0; i < n; ++i) {
      const long double a = -2 * pi * static_cast<long double>((static_cast<long long>(k) * i) % n) / n;
      acc += lcplx(re[static_cast<size_t>(i)], im.empty() ? 0.0 : im[static_cast<size_t>(i)]) * lcplx(std::cos(a), std::sin(a));
    }
    out[static_cast<size_t>(k)] = acc;
  }
  return out;
}

template <typename T>
double relError(const std::vector<std::complex<T>>& got, const std::vector<lcplx>& ref) {
  long double peak = 0, err = 0;
  for (size_t k = 0; k < ref.size(); ++k) {
    peak = std::fmax(peak, std::abs(ref[k]));
    err = std::fmax(err, std::abs(lcplx(got[k].real(), got[k].imag()) - ref[k]));
  }
  return static_cast<double>(err / peak);
}

// One precision's case: the FFT, its input and output, run() does one transform.
template <typename T>
struct RealCase {
  dsp::BasicRealFft<T> fft;
  std::vector<T> in;
  std::vector<std::complex<T>> out;
  RealCase(const std::vector<double>& x, int n) : fft(n), in(x.begin(), x.end()), out(static_cast<size_t>(n / 2 + 1)) {}
  void run() {
    fft.forward(in.data(), out.data());
    sink = sink + static_cast<double>(out[1].real());
  }
};

template <typename T>
struct ComplexCase {
  dsp::BasicComplexFft<T> fft;
  std::vector<std::complex<T>> in, work;
  ComplexCase(const std::vector<double>& re, const std::vector<double>& im, int n) : fft(n), in(static_cast<size_t>(n)), work(static_cast<size_t>(n)) {
    for (size_t i = 0; i < in.size(); ++i) in[i] = {static_cast<T>(re[i]), static_cast<T>(im[i])};
  }
  void run() {
    for (size_t i = 0; i < in.size(); ++i) work[i] = in[i];  // in place: restart from the input
    fft.forward(work.data());
    sink = sink + static_cast<double>(work[1].real());
  }
};

// ns per run() of a and b, interleaved rounds, best round each.
template <typename A, typename B>
void time(A& a, B& b, int n, double seconds, double* nsA, double* nsB) {
  const int reps = 20000 / n + 20, rounds = 20;
  *nsA = *nsB = 1e300;
  const auto start = Clock::now();
  for (int r = 0; r < rounds || std::chrono::duration<double>(Clock::now() - start).count() < seconds; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) a.run();
    const auto t1 = Clock::now();
    for (int i = 0; i < reps; ++i) b.run();
    const auto t2 = Clock::now();
    *nsA = std::fmin(*nsA, std::chrono::duration<double, std::nano>(t1 - t0).count() / reps);
    *nsB = std::fmin(*nsB, std::chrono::duration<double, std::nano>(t2 - t1).count() / reps);
  }
}

void real(const char* use, int n, double seconds) {
  const auto x = noise(n, 7u + static_cast<unsigned>(n));
  RealCase<double> d(x, n);
  RealCase<float> f(x, n);
  double nsD, nsF;
  time(d, f, n, seconds, &nsD, &nsF);
  d.run(), f.run();
  // The reference sees the float case's (rounded) input, so its error is the transform's own.
  const auto ref = dft(x, {}, n / 2 + 1);
  const auto refF = dft(std::vector<double>(f.in.begin(), f.in.end()), {}, n / 2 + 1);
  std::printf("%s\treal\t%d\t%.0f\t%.0f\t%.2f\t%.1e\t%.1e\n", use, n, nsD, nsF, nsD / nsF, relError(d.out, ref), relError(f.out, refF));
}

void complex(const char* use, int n, double seconds) {
  const auto re = noise(n, 11u), im = noise(n, 13u);
  ComplexCase<double> d(re, im, n);
  ComplexCase<float> f(re, im, n);
  double nsD, nsF;
  time(d, f, n, seconds, &nsD, &nsF);
  d.run(), f.run();
  std::vector<double> reF(static_cast<size_t>(n)), imF(static_cast<size_t>(n));
  for (size_t i = 0; i < reF.size(); ++i) reF[i] = f.in[i].real(), imF[i] = f.in[i].imag();
  std::printf("%s\tcomplex\t%d\t%.0f\t%.0f\t%.2f\t%.1e\t%.1e\n", use, n, nsD, nsF, nsD / nsF, relError(d.work, dft(re, im, n)), relError(f.work, dft(reF, imF, n)));
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.5;  // least time per case
  std::printf("use\tkind\tn\tdouble_ns\tfloat_ns\tratio\tdouble_err\tfloat_err\n");
  real("mvdr 48 kHz", 256, seconds);
  real("mvdr 96 kHz / log-mel", 512, seconds);
  complex("doa", 512, seconds);
  real("band spectrum", 2048, seconds);
  return 0;
}
