// Afc: adaptive feedback cancellation (van Waterschoot & Moonen, "Fifty years of acoustic feedback
// control", Proc. IEEE 2011, section V; PEM-AFROW: Rombouts, van Waterschoot, Moonen 2006). An
// adaptive filter F^ models the loudspeaker -> microphone path from the loudspeaker's feed u and
// subtracts its estimate from the microphone: e = y - F^ u goes on to the rest of the chain.
//
// How: a partitioned-block frequency-domain adaptive filter (PBFDAF / MDF; Soo & Pang 1990):
// blocks of B samples, P partitions of B taps, overlap-save with 2B-point real FFTs (dsp/fft.h,
// float). The update is NLMS normalised per bin by the reference's energy over the filter's span
// (the sum over the P partitions of |X_p(f)|^2) plus a regularisation relative to that energy's
// mean over bins and a floor (the energy of white noise at -60 dBFS), and constrained (each partition's gradient back to time, its second half zeroed)
// so the filter stays a linear convolution. Prediction-error-method prewhitening (PEM-AFROW): every
// lpcUpdateS an LPC of order lpcOrder is fitted to the last 1024 samples of the error (Hann window,
// Gaussian lag window, +40 dB white-noise floor, Levinson-Durbin), and both the reference u and the
// error pass through that whitening filter A(z) before the update; the estimate itself uses the raw u.
// When A(z) changes, the whitened reference spectra of all P partitions are made again from the raw
// reference with the new A(z) (P FFTs every lpcUpdateS), so the update never correlates an error
// whitened by one filter with a reference whitened by another. (When the source at the microphone
// is weak against the residual feedback, A(z) whitens the residual instead of the source and the
// estimate stalls: docs/feedback.md, "Fifth round".)
// The source's own correlation (a held note, a vowel) is what biases a plain canceller in a closed
// loop; whitening takes most of it out of the correlation the update sees.
//
// Invariants:
// - The canceller models the path's lags [B, (P + 1) B): the estimate of a block needs only
//   loudspeaker samples of earlier blocks, so cancel() never waits for the loudspeaker sample it
//   is about to help make (the loop is causal). A path with energy below lag B is not cancelled
//   there: the loop's rooms start at 7.1 ms (341 samples at 48 kHz), B is 256 by default.
// - Calls alternate: cancel(x, n) then feed(u, n) with the same n, n <= untilBlockEnd(); feed
//   completes a block when the block is full, and only then does the filter change.
// - The constructor allocates everything (check() must have passed: it refuses what it cannot
//   run); cancel, feed and taps are noexcept, allocate nothing, take no lock, make no syscall.
// - Non-finite input never reaches the filter: a block whose error or reference is not finite is
//   not learned from (the filter keeps its last good state) and contributes zeros to the history.
#pragma once
#include <complex>
#include <vector>

#include "dsp/fft.h"

namespace dsp {

struct AfcOptions {
  int blockSize = 256;         // B: a power of two, 64..2048
  int partitions = 48;         // P: 1..128 (B * (P + 1) is the longest lag modelled)
  double mu = 0.02;            // step, 0 < mu <= 1
  int lpcOrder = 16;           // 0 (no prewhitening) or 2..32
  double lpcUpdateS = 0.02;    // how often the whitening filter is refitted, 0.005..1 s
  double regularisation = 0.01;  // of the mean per-bin reference energy, 1e-6..10
};

class Afc {
 public:
  // nullptr when o can run, else what is wrong (a static string).
  static const char* check(const AfcOptions& o) noexcept;
  Afc(double sampleRate, const AfcOptions& o);

  int blockSize() const noexcept { return B_; }
  int partitions() const noexcept { return P_; }
  const AfcOptions& options() const noexcept { return o_; }
  // Samples left in the current block: the most cancel() may take now.
  int untilBlockEnd() const noexcept { return B_ - pos_; }
  // x (the microphone, n samples) becomes the error: x minus the estimate of the feedback.
  void cancel(float* x, int n) noexcept;
  // The loudspeaker's feed for the same n samples.
  void feed(const float* u, int n) noexcept;
  // The estimated path, lags 0..len-1 (zero outside [B, (P + 1) B)).
  void taps(float* out, int len) noexcept;
  long long blocks() const noexcept { return blocks_; }

 private:
  void endBlock() noexcept;
  bool refitLpc() noexcept;
  void rewhiten() noexcept;
  AfcOptions o_;
  int B_, P_, N_, K_, Q_;
  int pos_ = 0;
  long long blocks_ = 0;
  int lpcEvery_, lpcCount_ = 0;
  BasicRealFft<float> fft_;
  using cf = std::complex<float>;
  std::vector<cf> W_;        // P * K: the filter, per partition
  std::vector<cf> X_, Xw_;   // P * K rings: raw and whitened reference spectra, newest at head_
  int head_ = 0;
  std::vector<float> norm_;  // K
  std::vector<float> u_, uw_, uPrev_, uwPrev_, e_, ew_, yhat_;  // B each
  std::vector<float> uHist_, eHist_;  // Q: the whitening FIR's state for u and e
  std::vector<float> uLong_;  // (P + 1) B + Q: the raw reference over the filter's span, newest last
  std::vector<float> a_;     // Q + 1: A(z), a_[0] = 1
  std::vector<float> lpcBuf_;  // the last kLpcWindow error samples
  std::vector<double> lpcWin_, lagWin_, r_, tmpA_, tmpB_;
  std::vector<float> tbuf_;  // N
  std::vector<cf> fbuf_, E_;  // K
};

}  // namespace dsp
