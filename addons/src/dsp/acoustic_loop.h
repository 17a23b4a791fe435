// AcousticLoop: a simulated feedback loop, microphone -> (notches) -> gain -> loudspeaker ->
// room -> back to the microphone, so a howl grows out of the physics of the loop instead of being
// synthesised. The room is a shoebox image-source model (Allen & Berkley 1979): every image of the
// loudspeaker up to the room's order within maxSeconds becomes a tap, amplitude beta^reflections
// / distance, rounded to whole samples; the PA and microphone band limits are a 2nd-order
// high-pass (100 Hz) and low-pass (8 kHz). The impulse response is scaled so the loop's largest
// gain over frequency is 0 dB with the gain at 0 dB: the loop gain in dB is then the margin over
// the point where it starts to howl (> 0 dB howls at the frequency of the largest gain). The
// loudspeaker saturates softly (tanh), as an amplifier would, so a howl settles near full scale.
// The frequency shifter (dsp/freq_shift.h, off by default: an exact bypass) sits after the notches,
// before the gain, as a feedback suppressor's shifter would.
// The adaptive feedback canceller (dsp/afc.h, off unless setAfc) takes the microphone first: the
// chain runs on the microphone minus its estimate of the feedback, before the notches.
// Construction and setAfc allocate; process, setGainDb, setNotch and setShiftHz do not.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "dsp/afc.h"
#include "dsp/biquad.h"
#include "dsp/freq_shift.h"
#include "dsp/room_ir.h"

namespace dsp {

class AcousticLoop {
 public:
  static constexpr int kNotches = 32;
  AcousticLoop(double sampleRate, const RoomSpec& room, double gainDb);

  void setGainDb(double db) noexcept;
  // Notch i: a peaking biquad (gainDb < 0) on the loudspeaker feed; glides and crossfades.
  void setNotch(int i, const BandParams& p) noexcept { notches_.setBand(i, p); }
  // Shift (Hz) of the loudspeaker feed; glides. 0: off.
  void setShiftHz(double hz) noexcept { shift_.setShiftHz(hz); }
  // Turns the canceller on (Afc::check(o) must pass); allocates, so not while process runs.
  void setAfc(const AfcOptions& o) { afc_ = std::make_unique<Afc>(fs_, o); }
  Afc* afc() noexcept { return afc_.get(); }
  // src: what the microphone hears from the stage; mic: src plus the loudspeaker through the room;
  // spk: the loudspeaker feed; pre (optional): the feed before the notches (the microphone, or with
  // the canceller on, the microphone minus its estimate): what a detector that probes with a notch
  // must read, since the notch changes the loudspeaker feed of a note and of a howl alike. n each.
  void process(const float* src, float* mic, float* spk, int n, float* pre = nullptr) noexcept;

  const std::vector<float>& impulseResponse() const noexcept { return h_; }
  // Frequency (Hz) of the loop's largest gain with no notch.
  double criticalHz() const noexcept { return criticalHz_; }
  int taps() const noexcept { return static_cast<int>(tapDelay_.size()); }

 private:
  double fs_, gain_ = 1, criticalHz_ = 0;
  std::vector<float> h_;
  std::vector<int32_t> tapDelay_;
  std::vector<float> tapGain_;
  int minDelay_ = 1;
  std::vector<float> hist_, fb_;
  int histLen_ = 0;
  uint32_t w_ = 0;
  std::vector<float> buf_;
  ParametricEq notches_, band_;
  FreqShift shift_;
  std::unique_ptr<Afc> afc_;
};

}  // namespace dsp
