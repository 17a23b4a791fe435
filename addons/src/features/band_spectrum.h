// Per-output band spectrum for the EQ recommender, at the engine rate (48 kHz): 2048-point Hann
// frames, hop 1024, 32 log-spaced bands from 31.5 Hz to 16 kHz, each band the mean power per bin
// in dB. Keeps an exponential average of the band level ("mean") and of its deviation ("spread")
// over a few seconds. Sized at construction; push() never allocates.
#pragma once
#include <complex>
#include <cstddef>
#include <vector>

#include "dsp/fft.h"

namespace features {

class BandSpectrum {
 public:
  static constexpr int kFft = 2048;
  static constexpr int kHop = 1024;
  static constexpr int kBands = 32;

  // averageSeconds: time constant of the running mean and spread. Defaults to 3 s.
  // skipSamples: the first frame starts after this many samples (they are not analysed), so
  // several outputs' spectra can be framed out of step and do their FFTs in different blocks.
  explicit BandSpectrum(double sampleRate = 48000.0, double averageSeconds = 3.0, size_t skipSamples = 0);
  // Feeds n samples; returns the number of new analysis frames (the averages were updated).
  size_t push(const float* in, size_t n) noexcept;
  // Copies [mean dB x32, spread dB x32] into out (64 floats).
  void snapshot(float* out) const noexcept;
  unsigned long long frames() const { return frames_; }
  // The last analysed frame's spectrum (kFft/2 + 1 bins of the Hann-windowed frame).
  const std::complex<float>* spectrum() const noexcept { return spec_.data(); }
  void reset() noexcept;

 private:
  void analyse() noexcept;

  dsp::BasicRealFft<float> fft_;
  std::vector<float> window_;
  std::vector<float> buf_, frame_;
  std::vector<std::complex<float>> spec_;
  std::vector<int> lo_, hi_;  // bin range [lo, hi) per band
  std::vector<float> mean_, var_;
  float alpha_;
  size_t fill_ = 0;
  size_t skipSamples_, skip_;
  unsigned long long frames_ = 0;
};

}  // namespace features
