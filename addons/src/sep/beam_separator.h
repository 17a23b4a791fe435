// Beamforming-based separation (ODAS's SSS, issue 17): one delay-and-sum beam per tracked source,
// steered at it frame by frame in the STFT domain (exact fractional delays as phase), then a
// post-filter: each beam keeps a time-frequency bin in proportion to how much of the beams'
// power there is its own, G_j = P_j^g / sum_i P_i^g (P: the beam powers smoothed over time,
// g: the mask's sharpness), never below a floor. The residual is the mic average minus the sum of
// the filtered beams. 50 % overlapped square-root Hann frames: with every gain 1 the chain is
// transparent, delayed by frameSize samples.
// Real-time safety: the constructor allocates; setDirections and process are noexcept, allocate
// nothing, take no lock and make no syscall.
#pragma once
#include <memory>

#include "dsp/geometry.h"

namespace sep {

struct SeparatorOptions {
  int frameSize = 1024;  // rounded up to a power of two; the hop is half of it
  int sources = 4;       // 1..kMaxSources beams
  double sharpness = 2;  // g in the mask
  double floor = 0.05;   // smallest gain of the mask
  double smoothing = 0.5;
};

constexpr int kMaxSources = 8;

class BeamSeparator {
 public:
  BeamSeparator(const dsp::Geometry& g, const SeparatorOptions& o);
  ~BeamSeparator();
  BeamSeparator(BeamSeparator&&) noexcept;
  BeamSeparator& operator=(BeamSeparator&&) noexcept;

  // Where each beam points from the next hop on; an inactive beam outputs silence and is left
  // out of the others' masks. az/el/active hold `sources` entries.
  void setDirections(const double* az, const double* el, const bool* active) noexcept;
  // in: the mics; stems, beams: `sources` channels each (post-filtered, plain delay-and-sum);
  // residual: one channel. Any output may be null. Hops complete inside; call onHop before each
  // hop's analysis (to set that hop's directions) when given.
  void process(const float* const* in, float* const* stems, float* const* beams, float* residual, int frames,
               void (*onHop)(void*) = nullptr, void* ctx = nullptr) noexcept;
  int hopSize() const noexcept;
  int latency() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sep
