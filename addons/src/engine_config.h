// The engine's configuration as plain C++ data. firmware/engine/engine.ts validates and defaults
// every field; the binding copies the checked object into this struct; the test binaries fill it
// directly. Nothing here is read by the audio thread after start() except as constants.
#pragma once

#include <string>
#include <vector>

#include "dsp/room_ir.h"

namespace engine {

struct Mic {
  double x = 0, y = 0, z = 0;
};

struct SimSource {
  double azDeg = 0, elDeg = 0;
  int kind = 0;  // 0 tone, 1 noise, 2 speechlike (dsp::SimSourceSpec)
  double freqHz = 1000, levelDb = -20;
};

// A feedback loop on the sim board (dsp/room_path.h): engine output `output` through a room back
// into the engine inputs listed (a microphone array hears it on every capsule), gainDb over the
// point where a unity forward path starts to howl.
struct SimLoop {
  bool enabled = false;
  int output = 0;
  std::vector<int> inputs;
  double gainDb = -6;
  dsp::RoomSpec room;
};

struct BeamConfig {
  std::string kind = "das";  // "das" | "mvdr"
  double azDeg = 0, elDeg = 0;
  bool autoSteer = false;  // follow the DOA (smoothed)
};

// One AES67 stream of the aes67 backend (addons/src/net/, docs/aes67.md). A receive stream fills
// engine inputs [firstChannel, firstChannel + channels); a transmit stream carries engine outputs
// [firstChannel, firstChannel + channels).
struct Aes67Stream {
  std::string address;  // rx: multicast group to join or "" / unicast address to bind; tx: destination
  int port = 5004;      // rx: 0 binds an ephemeral port (tests); tx: destination port
  std::string iface;    // local IPv4 address of the interface for multicast ("" : the default)
  int channels = 2;     // 1..8
  int firstChannel = 0;
  int bits = 24;          // 24 (L24) | 16 (L16)
  int payloadType = 96;   // dynamic 96..127
  int ptimeUs = 1000;     // 125 | 250 | 333 | 1000 | 4000
  int linkOffsetUs = 2000;  // rx: the jitter buffer (playout delay after the first packet)
  unsigned ssrc = 0;        // rx: the expected SSRC (0: lock on the first sender); tx: our SSRC
  int ttl = 16;             // tx multicast TTL
  // rx failover: receive streams with the same firstChannel and channels are one input's
  // sources, tried in priority order (1 first .. 4). A source whose packets stop for half its link
  // offset, or that loses more than failoverLossPct of its packets over 250 ms, is left for the
  // next healthy one with a crossfade; a higher-priority source comes back after returnMs healthy.
  int priority = 1;
  double failoverLossPct = 10;
  int returnMs = 2000;
  // rx: the stream's media clock offset (SDP a=mediaclk:direct=N): its RTP timestamp of a sample is
  // the PTP time of that sample in samples plus this (mod 2^32). Used by timestamp playout.
  uint32_t mediaClockOffset = 0;
};

struct EngineConfig {
  // "file" | "sim" | "alsa" | "null" | "aes67" (null: silence in, output discarded, unpaced; for tests)
  std::string backend = "sim";
  int sampleRate = 48000;
  int blockSize = 64;
  int inputs = 8;
  int outputs = 4;
  // Dry path: output k <- input dryMap[k], untouched.
  std::vector<int> dryMap;
  // Array geometry: the first mics.size() inputs are the array. Empty: line inputs only.
  std::vector<Mic> mics;
  std::vector<BeamConfig> beams;
  bool doa = true;
  // Run the DOA estimator on its own (normal priority) thread, fed through a ring, so its
  // frame-wise FFT work never lands inside one audio block. With the file backend auto beams
  // follow each estimate a fixed number of blocks (one hop) after it, and the audio thread waits
  // for the DOA thread when it must, so offline results do not depend on thread timing (false:
  // the DOA runs inline, with the same delay and the same result).
  bool doaThread = true;
  int doaFrameSize = 1024;
  // Smoothing of the auto-steered beam: weight of each new DOA estimate (0..1], and the
  // confidence below which estimates are ignored.
  double doaSmoothing = 0.3;
  double doaMinConfidence = 0.2;
  double crossfadeMs = 10;
  // Native fail-open: heartbeat older than this goes dry (0 disables, for offline runs). Seconds,
  // not milliseconds: a late event loop holds the parameters (the sound does not change); only a
  // control plane that stays away this long sends the audio dry (docs/watchdog.md).
  double heartbeatTimeoutMs = 5000;
  // A processed output sample beyond this level (dBFS) is a runaway: dry at once.
  double runawayDb = 24;
  // Chain over its budget (blockPeriod * budgetFraction) this many blocks in a row goes dry.
  int overrunBlocks = 4;
  double budgetFraction = 1.0;
  bool startProcessed = true;
  bool realtimePriority = true;
  // file backend
  std::string inPath, outPath;
  // Several files as one input (wav_join.h): columns of consecutive parts. Empty: inPath alone.
  std::vector<std::vector<std::string>> inColumns;
  // file backend: wait for the feature ring instead of dropping (the offline analysers drain it).
  bool losslessFeatures = false;
  // file backend: process frames [inFrom, inTo) of the input; inTo < 0 means to the end.
  int64_t inFrom = 0, inTo = -1;
  std::string outFormat = "float32";  // float32 | pcm16 | pcm24 | pcm32
  // sim backend
  std::vector<SimSource> simSources;
  double simNoiseDb = -50;
  unsigned simSeed = 1;
  bool simPaced = true;
  double recordSeconds = 0;
  SimLoop simLoop;
  // null / unpaced sim: stop after this many blocks (0: run until stop())
  long long maxBlocks = 0;
  // alsa backend
  std::string captureDevice, playbackDevice;
  int alsaPeriods = 3;
  // aes67 backend (paced by CLOCK_MONOTONIC like sim; network I/O on its own threads)
  std::vector<Aes67Stream> aes67Rx, aes67Tx;
  // Stream slots preallocated at start (at most 8 each, at least the streams above); run-time
  // streams fill the free ones (Backend::addStream, docs/aes67.md "Streams at run time").
  int aes67RxSlots = 8, aes67TxSlots = 8;
};

}  // namespace engine
