// RBJ "Audio EQ Cookbook" biquads and a parametric EQ built from them.
#pragma once
#include <memory>

namespace dsp {

enum class BandType { Peak, LowShelf, HighShelf, HighPass, LowPass };

struct BandParams {
  BandType type = BandType::Peak;
  double freqHz = 1000, gainDb = 0, q = 0.7071;  // q: bandwidth for Peak, slope-Q for shelves
  bool enabled = false;
};

// Normalised so a0 == 1: y = b0 x + b1 x1 + b2 x2 - a1 y1 - a2 y2.
struct BiquadCoeffs {
  double b0 = 1, b1 = 0, b2 = 0, a1 = 0, a2 = 0;
};

// RBJ cookbook design. Frequencies are clamped to (0, 0.49 fs) and q to >= 0.05 so a bad value
// can never produce an unstable filter.
BiquadCoeffs designBiquad(const BandParams& p, double sampleRate);

// |H(e^jw)| in dB at freqHz.
double magnitudeDb(const BiquadCoeffs& c, double freqHz, double sampleRate);

// A chain of biquad bands on one channel. Parameter changes glide (frequency and Q in log
// steps, gain in dB, about 20 ms) and coefficients are recomputed every 16 samples while a band
// moves; enabling, disabling or changing a band's type crossfades the band in and out, so no
// change clicks or zippers.
// Real-time safety: the constructor allocates; setBand, process and reset are noexcept, allocate
// nothing, take no lock and make no syscall.
class ParametricEq {
 public:
  ParametricEq(double sampleRate, int bands = 8);
  ~ParametricEq();
  ParametricEq(ParametricEq&&) noexcept;
  ParametricEq& operator=(ParametricEq&&) noexcept;

  int bands() const noexcept;
  // Out-of-range i is ignored.
  void setBand(int i, const BandParams& p) noexcept;
  // In place, n samples of one channel.
  void process(float* x, int n) noexcept;
  // Clears filter state and jumps every band to its target (no glide). For a fresh stream.
  void reset() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsp
