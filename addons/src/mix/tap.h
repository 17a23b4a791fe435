// The engine's output as one more consumer ring: what the personal-mix streamer renders from.
//
// The audio thread pushes one record per 32 frames: the first kTapOutputs outputs as they leave
// the engine (after the crossfade: what the PA gets) and the bed, the mean of the inputs (the
// room and the band as the array hears them). A full ring drops the record and counts it
// (ring.h): the PA path never waits for a slow streamer. Nothing is pushed while no streamer
// listens, so an idle tap drops nothing.
// With mics on (a published profile mixes a tracked source in: Streamer::setStreams), each record
// also carries the first kTapMics array mics (after the input trims), which the streamer's
// separator (sep::BeamSeparator) turns into one post-filtered stem per tracked source. Off, the
// push copies no mic (mics = 0): what the tap costs stays what it was.
#pragma once

#include <cstdint>

namespace mix {

constexpr int kTapFrames = 32;
constexpr int kTapOutputs = 8;
constexpr int kTapMics = 16;
// Records in the tap: 512 x 32 frames = 341 ms at 48 kHz of slack for the streamer thread.
constexpr uint32_t kTapCapacity = 512;

struct TapChunk {
  uint64_t block = 0;
  int32_t frames = 0;
  int32_t outputs = 0;  // valid entries of out[], <= kTapOutputs
  float out[kTapOutputs][kTapFrames];
  float bed[kTapFrames];
  int32_t mics = 0;  // valid entries of mic[], <= kTapMics; 0 while no profile uses a tracked source
  float mic[kTapMics][kTapFrames];
};

}  // namespace mix
