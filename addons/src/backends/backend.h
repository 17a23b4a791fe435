// One interface for every audio boundary the engine can sit on: a WAV file pair, the simulated
// stage, a real ALSA device. The engine's audio thread calls read() then write() once per block.
//
// open()/close() run on the control thread and may allocate, throw nothing, and report errors as
// text. read()/write() run on the audio thread: noexcept, no allocation, no locks; blocking is
// allowed only as the device's own I/O (ALSA) or pacing (sim's clock_nanosleep).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "../engine_config.h"
#include "../wav.h"

namespace engine {

// One network stream's counters (the aes67 backend); read on the control thread, any time.
struct NetStreamStats {
  bool tx = false;
  int localPort = 0;  // the bound port (rx), the source port (tx)
  uint64_t packets = 0;    // rx: accepted; tx: sent
  uint64_t late = 0;       // rx: arrived after their place was played out (or duplicates)
  uint64_t lost = 0;       // rx: sequence numbers never received
  uint64_t concealed = 0;  // rx: packets' worth of audio made up (repeat, fade)
  uint64_t malformed = 0;  // rx: the sum of the five below
  uint64_t badVersion = 0, wrongPayloadType = 0, tooShort = 0, tooLarge = 0, wrongSsrc = 0;
  uint64_t underruns = 0;  // rx: the audio thread found the jitter buffer empty
  uint64_t overflows = 0;  // rx: frames dropped because the buffer ran far over the link offset
  uint64_t sendErrors = 0;  // tx
  uint64_t lastPacketNs = 0;  // CLOCK_MONOTONIC of the last accepted (rx) or sent (tx) packet
  uint32_t ssrc = 0;
  int fillFrames = 0;  // rx: frames waiting in the jitter buffer now
  // rx failover (streams sharing an input): is this the source playing, its priority, and the
  // input's switches so far with the cause of the last (0 none, 1 dead, 2 degraded, 3 returned).
  bool active = true;
  int priority = 1;
  uint64_t switches = 0;
  int lastSwitchCause = 0;
  uint64_t lastSwitchNs = 0;
  bool timestampPlayout = false;  // rx: plays by RTP timestamp on the media clock now (else by arrival)
  int slot = 0;  // the stream's slot (per direction), as addStream returned it
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Prepares the device or files. False with *error filled when it cannot.
  virtual bool open(std::string* error) = 0;
  // Fills in[0..inputs-1][0..frames-1] (planar). Returns frames read (the rest are zeroed by the
  // backend), 0 at the end of the input, -1 on an unrecoverable device error.
  virtual int read(float* const* in, int frames) noexcept = 0;
  // Writes out[0..outputs-1][0..frames-1]. False on an unrecoverable device error.
  virtual bool write(const float* const* out, int frames) noexcept = 0;
  // Recovered over/underruns so far (ALSA); 0 for backends without a device.
  virtual uint64_t xruns() const noexcept { return 0; }
  // Called on the control thread after the audio thread has stopped. The file backend commits
  // its output here (only when the whole input was processed). False with *error on failure.
  virtual bool close(std::string* error) { return true; }
  // Input/output recordings made by the sim backend (planar, `recordedFrames` each), else empty.
  virtual int64_t recordedFrames() const noexcept { return 0; }
  virtual const float* recordedInput(int channel) const noexcept { return nullptr; }
  virtual const float* recordedOutput(int channel) const noexcept { return nullptr; }
  // Whole-run peak and mean square per channel of what was read and of what was written (as the
  // output file stores it): the file backend's, for the offline report's meters; else null.
  virtual const wav::Levels* inputLevels() const noexcept { return nullptr; }
  virtual const wav::Levels* outputLevels() const noexcept { return nullptr; }
  // Frames in the input (file backend), -1 when endless.
  virtual int64_t totalFrames() const noexcept { return -1; }
  // Network streams (aes67 backend): fills up to `max` entries (rx streams first), returns the count.
  virtual int netStats(NetStreamStats* out, int max) const noexcept { return 0; }
  // Network streams: whether the system clock is the network's media clock (PTP locked, or this
  // unit is the grandmaster): receive streams then play by RTP timestamp, else by arrival.
  virtual void setMediaClockLocked(bool locked) const noexcept {}
  // Network streams at run time (control thread, while the audio thread runs): opens `stream` in a
  // free preallocated slot and publishes it (its slot number), or -1 with *error.
  virtual int addStream(bool tx, const Aes67Stream& stream, std::string* error) {
    *error = "this backend has no network streams";
    return -1;
  }
  // Removing one takes two steps, neither of which waits: beginRemove takes the stream off the air
  // (a playing source starts its fade-out); finishRemove, asked again until it answers, is 1 once no
  // thread reads the slot any more (the socket closed, the slot free), 0 while they still may, -1
  // with *error (not being removed; a thread that did not let go within 2 s: the slot stays taken).
  // The control thread's event loop keeps running meanwhile (firmware/engine/engine.ts polls).
  virtual bool beginRemove(bool tx, int slot, std::string* error) {
    *error = "this backend has no network streams";
    return false;
  }
  virtual int finishRemove(bool tx, int slot, std::string* error) {
    *error = "this backend has no network streams";
    return -1;
  }
};

// Builds the backend named by config.backend; nullptr with *error when the name is unknown.
std::unique_ptr<Backend> makeBackend(const EngineConfig& config, std::string* error);

std::unique_ptr<Backend> makeFileBackend(const EngineConfig& config);
std::unique_ptr<Backend> makeSimBackend(const EngineConfig& config);
std::unique_ptr<Backend> makeAlsaBackend(const EngineConfig& config);
std::unique_ptr<Backend> makeNullBackend(const EngineConfig& config);
std::unique_ptr<Backend> makeAes67Backend(const EngineConfig& config);

}  // namespace engine
