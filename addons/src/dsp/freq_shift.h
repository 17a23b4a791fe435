// FreqShift: a single-sideband frequency shifter for feedback control (Schroeder 1964; van
// Waterschoot & Moonen, "Fifty years of acoustic feedback control", Proc. IEEE 2011, section on
// frequency shifting). Every component at f comes out at f + shift, so a loop round trip moves a
// building howl off the room's peak before it can grow there.
//
// How: the analytic signal x_r + j x_i from two chains of four second-order allpass sections in
// z^-2 (Olli Niemitalo's polyphase Hilbert pair; the second chain one sample later), so the two
// outputs have exactly the same magnitude and 90 +- 0.71 degrees between them from 50 Hz to
// 20 kHz at 48 kHz: the image at f - shift stays >= 44 dB down and the level is exact (the wanted
// component is cos(0.71 deg / 2) of the input: -0.00002 dB). Then a complex oscillator
// z <- z * e^{j 2 pi df / fs}, renormalised to |z| = 1 at the start of every block, and the real
// part out: y = x_r Re z - x_i Im z.
//
// Invariants:
// - Shift 0 with nothing gliding is an exact bypass: the output is the input, bit for bit, and it
//   costs one test a block (the allpass chains stop). Leaving bypass clears their state; the
//   crossfade in (below) hides their first few milliseconds.
// - A change of shift glides: the oscillator's frequency moves linearly to the new value over
//   kGlideS (its phase never jumps), and leaving or entering bypass crossfades between the input
//   and the shifted signal over the same time (the allpass chains move the phase of every
//   component, so a hard switch would step the waveform). No change clicks.
// - The constructor allocates nothing either (fixed arrays); setShiftHz, process and reset are
//   noexcept, allocate nothing, take no lock and make no syscall: audio-thread safe.
// - |shift| is clamped to kMaxShiftHz; a non-finite shift is ignored.
#pragma once

namespace dsp {

class FreqShift {
 public:
  static constexpr int kSections = 4;
  static constexpr double kMaxShiftHz = 100.0;
  static constexpr double kGlideS = 0.05;
  explicit FreqShift(double sampleRate) noexcept;

  void setShiftHz(double hz) noexcept;
  double shiftHz() const noexcept { return target_; }
  // True while the output is the input bit for bit (shift 0, nothing gliding).
  bool bypassed() const noexcept { return cur_ == 0.0 && target_ == 0.0 && mix_ == 0.0; }
  // In place, n samples of one channel.
  void process(float* x, int n) noexcept;
  // Clears the filters' state and jumps to the target shift (no glide). For a fresh stream.
  void reset() noexcept;

 private:
  struct Chain {
    double c[kSections] = {};  // a^2 of each section
    double x1[kSections] = {}, x2[kSections] = {}, y1[kSections] = {}, y2[kSections] = {};
    double run(double in) noexcept;
    void clear() noexcept;
  };
  double fs_;
  Chain re_, im_;
  double imDelay_ = 0;  // the second chain's extra sample
  double zr_ = 1, zi_ = 0;  // the oscillator
  double cur_ = 0, target_ = 0, step_ = 0;  // shift now, where it goes, Hz per sample
  double mix_ = 0;  // 0: input, 1: shifted
  double mixStep_;
  bool idle_ = true;  // the last block was bypassed: the chains' state is stale
};

}  // namespace dsp
