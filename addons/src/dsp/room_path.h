// RoomPath: the acoustic half of a feedback loop on the sim board. What an engine output sends
// to its loudspeaker comes back, through the room (dsp/room_ir.h), into engine inputs: the
// engine's own output chain (its EQ, notches, shift, gain) is the loop's forward path, so the
// suppressor on the unit acts on a loop that grows out of physics, as `firmware process
// --loop-gain` does offline with dsp/acoustic_loop.h.
//
// Invariants:
// - Causal by construction: the room's shortest path (minDelay) is at least one block, so the
//   feedback for an input block is made only from loudspeaker samples already written. The
//   constructor refuses (throws) a room whose direct path is shorter than maxBlock samples.
// - loudspeaker = tanh(gain * bandLimits(output)): the PA's 100 Hz / 8 kHz limits and a soft
//   amplifier clip, so a howl settles near full scale as it would in a real PA. With gain 0 dB
//   the loop through a unity forward path is exactly at the edge (the response's peak is 0 dB).
// - feed() and addTo() never allocate, lock or call the system: the history is a linear buffer
//   with slack, moved back once every kSlack samples. Construction allocates.
#pragma once
#include <cstdint>
#include <vector>

#include "dsp/biquad.h"
#include "dsp/room_ir.h"

namespace dsp {

class RoomPath {
 public:
  RoomPath(double sampleRate, const RoomSpec& room, double gainDb, int maxBlock);

  // The output's block (n <= maxBlock) as it leaves for the loudspeaker.
  void feed(const float* out, int n) noexcept;
  // The room's return for the next n input samples (n <= maxBlock), written to fb.
  void render(float* fb, int n) noexcept;

  int minDelay() const noexcept { return minDelay_; }
  double criticalHz() const noexcept { return criticalHz_; }
  int taps() const noexcept { return static_cast<int>(delay_.size()); }

 private:
  static constexpr int kSlack = 16384;
  float gain_;
  std::vector<int32_t> delay_;
  std::vector<float> tap_;
  int minDelay_, len_, maxBlock_;
  double criticalHz_;
  std::vector<float> hist_;  // [w_ - len_, w_): the loudspeaker's past
  uint32_t w_;
  ParametricEq band_;
};

}  // namespace dsp
