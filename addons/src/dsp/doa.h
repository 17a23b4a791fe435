// Direction of arrival by SRP-PHAT: GCC-PHAT of every mic pair (averaged over about three hops),
// summed along each candidate direction's pair delays, coarse grid search then local refinement.
#pragma once
#include <memory>

#include "dsp/geometry.h"

namespace dsp {

struct DoaResult {
  double azimuth, elevation, confidence;  // degrees, degrees, 0..1
  bool valid;                             // false for silence or before the first frame
};

// Frame-wise estimator: a new estimate every hop (by default frameSize / 2 samples; a hop of
// frameSize halves the cost per second, for large arrays). For a linear array the
// azimuth is the angle to its axis (0..180, axis from mic 0 toward the last mic) and elevation 0;
// for a horizontal planar array the elevation is reported in 0..90 (its sign is unresolvable).
// Confidence is the mean PHAT-weighted pair correlation at the peak, clamped to 0..1.
// Real-time safety: the constructor allocates; push, hasNew, latest are noexcept, allocate
// nothing, take no lock and make no syscall. The work (FFTs and search) happens inside push when
// a hop completes.
class SrpPhatDoa {
 public:
  // frameSize is rounded up to a power of two; hop <= 0 means frameSize / 2, else 1..frameSize.
  SrpPhatDoa(const Geometry& g, int frameSize = 1024, int hop = 0);
  ~SrpPhatDoa();
  SrpPhatDoa(SrpPhatDoa&&) noexcept;
  SrpPhatDoa& operator=(SrpPhatDoa&&) noexcept;

  void push(const float* const* in, int frames) noexcept;
  bool hasNew() const noexcept;
  // The most recent estimate; clears hasNew().
  DoaResult latest() noexcept;
  int hopSize() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsp
