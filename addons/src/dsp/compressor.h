// Feed-forward compressor/limiter: soft-knee gain computer in dB on the instantaneous level,
// then a smooth decoupled peak detector on the gain reduction (Giannoulis, Massberg & Reiss,
// JAES 2012) so attack and release are independent one-pole time constants (63% points).
#pragma once
#include <memory>

namespace dsp {

struct CompressorParams {
  double thresholdDb = -20, ratio = 4, kneeDb = 6, attackMs = 5, releaseMs = 100, makeupDb = 0;
  bool enabled = false;
};

// One channel. Disabling releases the gain reduction at the release rate and glides the makeup
// gain to 0 dB (about 10 ms), so switching never clicks. A ratio >= 1000 is a brick-wall limiter.
// Real-time safety: the constructor allocates; setParams, process, reset and gainReductionDb are
// noexcept, allocate nothing, take no lock and make no syscall.
class Compressor {
 public:
  explicit Compressor(double sampleRate);
  ~Compressor();
  Compressor(Compressor&&) noexcept;
  Compressor& operator=(Compressor&&) noexcept;

  void setParams(const CompressorParams& p) noexcept;
  void process(float* x, int n) noexcept;
  // Largest gain reduction during the last process() call, dB, >= 0 (0 = no reduction).
  float gainReductionDb() const noexcept;
  void reset() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsp
