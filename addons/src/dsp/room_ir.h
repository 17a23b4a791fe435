// The simulated room between a loudspeaker and a microphone, as the feedback loops use it
// (dsp/acoustic_loop.h offline, dsp/room_path.h on the sim board).
//
// Invariants:
// - The response is a shoebox image-source model (Allen & Berkley 1979): every image of the
//   loudspeaker up to the room's order within maxSeconds is a tap, amplitude
//   beta^reflections / distance, rounded to whole samples.
// - It is scaled so that, with the PA's band limits (2nd-order high-pass at 100 Hz, low-pass at
//   8 kHz, kPaHighPassHz / kPaLowPassHz), its largest gain over frequency is exactly 1 (0 dB): a
//   loop through it with a forward gain of g dB is then g dB over the point where it can howl.
// - delay[] is ascending and every entry is >= 1; minDelay is delay[0] (1 with no tap).
// Building allocates (the caller does it once, off the audio thread).
#pragma once
#include <cstdint>
#include <vector>

namespace dsp {

struct RoomSpec {
  double size[3] = {8, 6, 3};      // metres
  double absorption = 0.35;        // of the walls (energy), 0..1
  double speaker[3] = {2, 3, 2};   // loudspeaker position, metres
  double mic[3] = {5.5, 3.4, 1.6};  // microphone position, metres
  int order = 8;                    // image order
  double maxSeconds = 0.25;         // impulse response length
};

constexpr double kPaHighPassHz = 100.0;
constexpr double kPaLowPassHz = 8000.0;

struct RoomResponse {
  std::vector<float> h;        // the scaled impulse response, every sample
  std::vector<int32_t> delay;  // the taps worth running: |h| > 1e-4 of the largest
  std::vector<float> gain;
  int minDelay = 1;
  double criticalHz = 0;  // where the scaled response (with the band limits) reaches 0 dB
};

RoomResponse buildRoomResponse(double sampleRate, const RoomSpec& room);

}  // namespace dsp
