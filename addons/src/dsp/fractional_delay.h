// Kaiser-windowed-sinc fractional delay taps, shared by the delay-and-sum beamformer and the
// stage simulator.
#pragma once

namespace dsp {

// Modified Bessel function of the first kind, order 0 (series; for Kaiser windows).
double besselI0(double x) noexcept;

// Taps h[0..len) (len even) that delay by (len/2 - 1) + frac samples, frac in [0, 1):
//   y[n] = sum_k h[k] * x[n - k]  ==  x(n - (len/2 - 1) - frac).
// Normalised to unit DC gain. noexcept, no allocation: safe on the audio thread.
void fractionalDelayTaps(double frac, int len, double kaiserBeta, float* h) noexcept;

}  // namespace dsp
