// The sim backend: the synthetic stage of dsp::StageSimulator (sources at set directions hitting
// the array, plus noise per mic), paced by CLOCK_MONOTONIC at the block period so the engine
// runs in real time as it would on a device. Optionally records input and output into buffers
// allocated at open (recordSeconds), for fault tests that check what came out against what
// went in. With a sim loop (EngineConfig::simLoop, dsp/room_path.h) one output comes back into one
// input through a simulated room, so feedback grows on the engine as on a stage. Also the `null` backend: silence in, output discarded, unpaced.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../dsp/room_path.h"
#include "../dsp/stage_sim.h"
#include "../rt.h"
#include "backend.h"

namespace engine {

namespace {

class SimBackend final : public Backend {
 public:
  explicit SimBackend(const EngineConfig& c, bool silent) : cfg_(c), silent_(silent) {}

  bool open(std::string* error) override {
    if (!silent_) {
      dsp::Geometry g;
      g.sampleRate = cfg_.sampleRate;
      // Without an array every input hears the stage from the origin (line-level feeds).
      if (cfg_.mics.empty()) {
        g.mics.assign(static_cast<size_t>(cfg_.inputs), dsp::Vec3{0, 0, 0});
      } else {
        for (const Mic& m : cfg_.mics) g.mics.push_back({m.x, m.y, m.z});
      }
      std::vector<dsp::SimSourceSpec> sources;
      for (const SimSource& s : cfg_.simSources) {
        dsp::SimSourceSpec spec;
        spec.azDeg = s.azDeg;
        spec.elDeg = s.elDeg;
        spec.kind = s.kind;
        spec.freqHz = s.freqHz;
        spec.levelDb = s.levelDb;
        sources.push_back(spec);
      }
      stageChannels_ = static_cast<int>(g.mics.size());
      stage_ = std::make_unique<dsp::StageSimulator>(g, sources, cfg_.simNoiseDb, cfg_.simSeed, cfg_.blockSize);
    }
    if (cfg_.simLoop.enabled) {
      const SimLoop& l = cfg_.simLoop;
      bool inputsExist = !l.inputs.empty();
      for (int ch : l.inputs) inputsExist = inputsExist && ch >= 0 && ch < cfg_.inputs;
      if (l.output < 0 || l.output >= cfg_.outputs || !inputsExist) {
        *error = "sim loop: output " + std::to_string(l.output + 1) + " or one of its inputs does not exist";
        return false;
      }
      loopReturn_.assign(static_cast<size_t>(cfg_.blockSize), 0.0f);
      try {
        loop_ = std::make_unique<dsp::RoomPath>(cfg_.sampleRate, l.room, l.gainDb, cfg_.blockSize);
      } catch (const std::exception& e) {
        *error = std::string("sim loop: ") + e.what();
        return false;
      }
    }
    if (cfg_.recordSeconds > 0) {
      recordCapacity_ = static_cast<int64_t>(cfg_.recordSeconds * cfg_.sampleRate);
      recIn_.assign(static_cast<size_t>(cfg_.inputs), std::vector<float>(static_cast<size_t>(recordCapacity_), 0.0f));
      recOut_.assign(static_cast<size_t>(cfg_.outputs), std::vector<float>(static_cast<size_t>(recordCapacity_), 0.0f));
    }
    pacer_.setPeriod(static_cast<int64_t>(1e9 * cfg_.blockSize / cfg_.sampleRate));
    return true;
  }

  int read(float* const* in, int frames) noexcept override {
    if (cfg_.simPaced && !silent_) pacer_.wait();
    if (stage_) {
      stage_->render(in, frames);
    }
    for (int ch = stage_ ? stageChannels_ : 0; ch < cfg_.inputs; ch++) std::memset(in[ch], 0, sizeof(float) * frames);
    if (loop_) {
      const int n = std::min(frames, static_cast<int>(loopReturn_.size()));
      loop_->render(loopReturn_.data(), n);
      for (int ch : cfg_.simLoop.inputs)
        for (int i = 0; i < n; i++) in[ch][i] += loopReturn_[i];
    }
    if (recordedIn_ < recordCapacity_) {
      const int64_t n = std::min<int64_t>(frames, recordCapacity_ - recordedIn_);
      for (int ch = 0; ch < cfg_.inputs; ch++) std::memcpy(recIn_[ch].data() + recordedIn_, in[ch], sizeof(float) * n);
      recordedIn_ += n;
    }
    return frames;
  }

  bool write(const float* const* out, int frames) noexcept override {
    if (loop_) loop_->feed(out[cfg_.simLoop.output], frames);
    if (recordedOut_ < recordCapacity_) {
      const int64_t n = std::min<int64_t>(frames, recordCapacity_ - recordedOut_);
      for (int ch = 0; ch < cfg_.outputs; ch++) std::memcpy(recOut_[ch].data() + recordedOut_, out[ch], sizeof(float) * n);
      recordedOut_ += n;
    }
    return true;
  }

  uint64_t xruns() const noexcept override { return pacer_.xruns(); }
  int64_t recordedFrames() const noexcept override { return std::min(recordedIn_, recordedOut_); }
  const float* recordedInput(int ch) const noexcept override {
    return ch >= 0 && ch < static_cast<int>(recIn_.size()) ? recIn_[ch].data() : nullptr;
  }
  const float* recordedOutput(int ch) const noexcept override {
    return ch >= 0 && ch < static_cast<int>(recOut_.size()) ? recOut_[ch].data() : nullptr;
  }

 private:
  EngineConfig cfg_;
  bool silent_;
  std::unique_ptr<dsp::StageSimulator> stage_;
  int stageChannels_ = 0;
  std::unique_ptr<dsp::RoomPath> loop_;  // the sim loop: an output back into inputs
  std::vector<float> loopReturn_;
  rt::BlockPacer pacer_;
  int64_t recordCapacity_ = 0, recordedIn_ = 0, recordedOut_ = 0;
  std::vector<std::vector<float>> recIn_, recOut_;
};

}  // namespace

std::unique_ptr<Backend> makeSimBackend(const EngineConfig& config) { return std::make_unique<SimBackend>(config, false); }
std::unique_ptr<Backend> makeNullBackend(const EngineConfig& config) { return std::make_unique<SimBackend>(config, true); }

}  // namespace engine
