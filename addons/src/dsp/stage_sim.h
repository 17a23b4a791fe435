// The synthetic stage: sources as plane waves from set directions hitting the array geometry,
// with per-mic fractional delays (32-tap Kaiser-windowed sinc), plus uncorrelated white noise per mic.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "dsp/geometry.h"

namespace dsp {

// levelDb is the RMS level in dBFS at the array origin (a tone at -20 dB has peak 0.1*sqrt 2).
struct SimSourceSpec {
  double azDeg = 0, elDeg = 0;
  int kind = 0; /*0 tone,1 noise,2 speechlike*/
  double freqHz = 1000, levelDb = -20;  // speechlike: freqHz is the fundamental
};

// Deterministic for a seed. noiseDb is the RMS of each mic's own noise in dBFS (<= -200: none).
// Real-time safety: the constructor allocates; render is noexcept, allocates nothing, takes no
// lock and makes no syscall.
class StageSimulator {
 public:
  StageSimulator(const Geometry& g, const std::vector<SimSourceSpec>& sources, double noiseDb,
                 uint32_t seed, int maxBlock);
  ~StageSimulator();
  StageSimulator(StageSimulator&&) noexcept;
  StageSimulator& operator=(StageSimulator&&) noexcept;

  // out has g.mics.size() channels, frames <= maxBlock (larger requests are rendered in pieces).
  void render(float* const* out, int frames) noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsp
