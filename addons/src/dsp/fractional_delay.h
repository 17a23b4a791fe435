// Kaiser-windowed-sinc fractional delay taps, shared by the delay-and-sum beamformer and the
// stage simulator.
#pragma once

#include <vector>

namespace dsp {

// Modified Bessel function of the first kind, order 0 (series; for Kaiser windows).
double besselI0(double x) noexcept;

// Taps h[0..len) (len even) that delay by (len/2 - 1) + frac samples, frac in [0, 1):
//   y[n] = sum_k h[k] * x[n - k]  ==  x(n - (len/2 - 1) - frac).
// Normalised to unit DC gain. noexcept, no allocation: safe on the audio thread, but it costs a
// Bessel series per tap (about 1.5 us for 16 taps); code that retaps often uses the table below.
void fractionalDelayTaps(double frac, int len, double kaiserBeta, float* h) noexcept;

// The same design tabulated over the fraction: `steps + 1` rows of fractionalDelayTaps at
// frac = i / steps, and taps for any fraction by linear interpolation between the two nearest
// rows. Every row has unit DC gain, so every interpolated filter has too. At 16 taps, beta 6 and
// 256 steps the response stays within 1.1e-4 dB and 2.1e-6 samples of group delay of the direct
// design up to 0.8 of Nyquist (tests/dsp/fractional_delay.test.ts); a lookup costs 2 x len
// multiply-adds instead of len Bessel series.
// The constructor allocates; taps() is noexcept and allocation-free (audio thread).
class FractionalDelayTable {
 public:
  FractionalDelayTable(int len, double kaiserBeta, int steps);
  // h[0..len): the taps for frac (clamped to [0, 1]).
  void taps(double frac, float* h) const noexcept;
  int length() const noexcept { return len_; }

 private:
  int len_, steps_;
  std::vector<float> rows_;  // (steps_ + 1) rows of len_ taps
};

}  // namespace dsp
