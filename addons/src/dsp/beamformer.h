// Beamformers over any array geometry (see geometry.h for the direction convention).
#pragma once
#include <memory>

#include "dsp/geometry.h"

namespace dsp {

// One beam. `in` has geometry.mics.size() channels of `frames` samples each, frames <= maxBlock.
// Steering changes are smoothed (delays or weights glide over about 20 ms).
// Real-time safety: the factories allocate; steer, process and every other method are noexcept,
// allocate nothing, take no lock and make no syscall.
class Beamformer {
 public:
  virtual ~Beamformer();
  virtual void steer(double azDeg, double elDeg) noexcept = 0;
  virtual void process(const float* const* in, float* out, int frames) noexcept = 0;
  // Samples by which a plane wave from the steered direction, as it passes the array origin,
  // appears late at the output (fractional-delay group delay, or STFT frame length).
  virtual int latencySamples() const noexcept = 0;
  virtual const char* name() const noexcept = 0;
  // Clears the signal history (not the steering, nor adapted statistics). For a fresh stream.
  virtual void resetStream() noexcept {}
  // Adaptive beamformers stop (false) or resume (true) learning the noise field; no-op otherwise.
  virtual void setAdaptation(bool on) noexcept {}
};

// Delay-and-sum: per-mic fractional delays by 16-tap Kaiser-windowed sinc, mean of the channels.
std::unique_ptr<Beamformer> makeDelayAndSum(const Geometry& g, int maxBlock);

// MVDR (MPDR form): STFT (256-point, 50% overlap, sqrt-Hann WOLA), per-bin adaptive spatial
// covariance with diagonal loading, distortionless toward the steered direction.
std::unique_ptr<Beamformer> makeMvdr(const Geometry& g, int maxBlock);

}  // namespace dsp
