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
};

// Builds the backend named by config.backend; nullptr with *error when the name is unknown.
std::unique_ptr<Backend> makeBackend(const EngineConfig& config, std::string* error);

std::unique_ptr<Backend> makeFileBackend(const EngineConfig& config);
std::unique_ptr<Backend> makeSimBackend(const EngineConfig& config);
std::unique_ptr<Backend> makeAlsaBackend(const EngineConfig& config);
std::unique_ptr<Backend> makeNullBackend(const EngineConfig& config);

}  // namespace engine
