// The audio engine core: one real-time thread running the chain block by block, plain C++ (no
// N-API here) so test programs can link it without Node.
//
//   backend.read -> commands -> input meters -> trim -> DOA -> beams -> per output: EQ ->
//   compressor -> gain -> crossfade(processed, dry) -> output meters -> backend.write
//
// Who may allocate: the constructor and start() (they build every buffer, ring and DSP module),
// stop() and the destructor. Everything the audio thread runs (runBlock and what it calls) is
// noexcept, allocation-free and lock-free; the control thread talks to it only through the
// rings and a handful of atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "dsp/freq_shift.h"
#include "engine_config.h"
#include "ring.h"
#include "features/feature_tap.h"
#include "mix/tap.h"
#include "sentinel.h"

namespace dsp {
class Beamformer;
class SrpPhatDoa;
class MultiSourceSsl;
struct DoaResult;
class ParametricEq;
class Compressor;
}  // namespace dsp

namespace engine {

constexpr int kMaxInputs = 64;
constexpr int kMaxOutputs = 16;
constexpr int kMaxBeams = 16;
constexpr int kMinBlock = 32;
constexpr int kMaxBlock = 1024;
constexpr int kEqBands = 8;
// Feedback notches per output (docs/feedback.md): peaking bands after the EQ.
constexpr int kNotches = 32;

// Commands: small fixed records through the command ring, applied at the next block boundary.
enum CommandId : uint32_t {
  kCmdSetInputTrim = 1,  // target input, v[0] dB
  kCmdSetOutputGain,     // target output, v[0] dB
  kCmdSetEqBand,         // target output, index band, v = type, freqHz, gainDb, q, enabled
  kCmdSetCompressor,     // target output, v = threshold, ratio, knee, attack, release, makeup, enabled
  kCmdSteerBeam,         // target beam, v = azDeg, elDeg (also turns auto-steering off)
  kCmdSetBeamAuto,       // target beam, v[0] != 0: follow the DOA
  kCmdSetBeamformer,     // target beam, index 0 das, 1 mvdr
  kCmdSetNotch,          // target output, index slot, v = freqHz, gainDb, q, enabled (a peaking band)
  kCmdSetShift,          // target output, v[0] = frequency shift Hz (0: off; dsp/freq_shift.h)
};

struct Command {
  uint32_t id = 0;
  int32_t target = 0;
  int32_t index = 0;
  int32_t reserved = 0;
  double v[7] = {0, 0, 0, 0, 0, 0, 0};
};

enum EventType : uint32_t {
  kEvNativeBypass = 1,  // cause, a = heartbeat age ms or block time us
  kEvXrun,              // a = total xruns
  kEvOverrun,           // a = used us, b = budget us
  kEvProcessed,         // output heads back to processed
  kEvEndOfInput,
  kEvBackendError,
};

// Why the audio thread went dry by itself. Heartbeat: the control plane has been silent past
// heartbeatTimeoutMs (seconds, not the milliseconds of a late event loop). Non-finite: a NaN or
// infinity left the chain. Runaway: a finite sample beyond runawayDb (a blown-up filter or gain).
enum BypassCause : uint32_t { kCauseNone = 0, kCauseHeartbeat = 1, kCauseOverrun = 2, kCauseNonFinite = 3, kCauseRunaway = 4 };

struct Event {
  uint32_t type = 0;
  uint32_t cause = 0;
  uint64_t block = 0;
  double a = 0, b = 0;
};

// Mic samples on their way to the DOA thread: 32 frames of one mic per record.
constexpr int kChunkFrames = 32;
struct MicChunk {
  uint64_t block = 0;
  int32_t frames = 0;
  int32_t reserved = 0;
  float s[kChunkFrames];
};

// A smoothed direction for the auto-steered beams, from the DOA thread back to the audio thread.
struct SteerRecord {
  double azDeg = 0, elDeg = 0;
  uint64_t block = 0;  // the block whose samples completed the estimate
};

struct DoaRecord {
  uint64_t block = 0;  // blocks completed when the estimate was made
  float azimuth = 0, elevation = 0, confidence = 0;
  uint32_t valid = 0;
};

// Live candidates (issue 17): one multi-peak localiser frame, from the DOA thread to the control
// side (the tracker in firmware/mix/). Strongest peak first; count 0 is a silent frame.
constexpr int kPeakSlots = 8;  // dsp::kSslMaxSources
struct PeakFrame {
  uint64_t block = 0;  // blocks completed when the frame ended
  int32_t count = 0;
  int32_t reserved = 0;
  float azimuth[kPeakSlots], energy[kPeakSlots];
};

// Peak (linear, max |x|) and RMS (linear) over one metering window.
struct MeterRecord {
  uint64_t block = 0;
  int32_t inputs = 0, outputs = 0;
  float inPeak[kMaxInputs], inRms[kMaxInputs];
  float outPeak[kMaxOutputs], outRms[kMaxOutputs], gainReductionDb[kMaxOutputs];
};

// Where a beam points and how, as last published by the audio thread.
struct BeamState {
  int kind = 0;  // 0 das, 1 mvdr
  bool autoSteer = false;
  double azDeg = 0, elDeg = 0;
};

struct Stats {
  uint64_t blocks = 0, xruns = 0, overruns = 0;
  uint64_t droppedCommands = 0, droppedEvents = 0, droppedDoa = 0, droppedMeters = 0;
  uint64_t droppedAnalysis = 0;  // blocks the DOA thread missed because its ring was full
  bool processed = false;     // target is the processed signal
  double mix = 0;             // 0 dry .. 1 processed, as of the last block
  uint32_t bypassCause = 0;   // latched native bypass (BypassCause)
  double lastUs = 0, p50Us = 0, p99Us = 0, maxUs = 0, blockPeriodUs = 0;
  double meanUs = 0;  // mean block time: the chain's own work per block (wall clock)
  bool running = false, finished = false, realtime = false;
  uint64_t lockedBytes = 0;  // engine buffers mlock()ed at start (0: the OS refused)
};

class Engine {
 public:
  // Builds the backend, buffers, rings and DSP modules. Throws std::runtime_error with a message
  // for the user (unknown device is reported by start(), which opens the backend).
  explicit Engine(const EngineConfig& config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Opens the backend and starts the audio thread. False with *error when it cannot.
  bool start(std::string* error);
  // Stops and joins the audio thread, then closes the backend (the file backend commits its
  // output here). Safe to call twice. False with *error when closing the backend failed.
  bool stop(std::string* error = nullptr);

  // ---- control thread, any time; all noexcept and lock-free ----
  void heartbeat() noexcept;
  // false: fade to dry. true: fade back to processed, and clear a native bypass if the
  // heartbeat is fresh when the audio thread sees the request.
  void setProcessing(bool on) noexcept;
  bool pushCommand(const Command& c) noexcept;
  // Test hook: busy-wait `us` microseconds inside the chain for the next `blocks` blocks.
  void injectDspSpin(int64_t us, int64_t blocks) noexcept;
  // Rehearsal hook: the audio thread sleeps `ms` once, at the start of its next block (no output
  // for that long: what a stuck driver or a page fault storm looks like).
  void injectAudioStall(int64_t ms) noexcept { stallMs_.store(ms, std::memory_order_release); }
  // Rehearsal hook: a NaN in output 0 of the chain for the next `blocks` blocks.
  void injectNonFinite(int64_t blocks) noexcept { nanBlocks_.store(blocks, std::memory_order_release); }
  // The control plane's last heartbeat (rt::nowNs), for the sentinel.
  int64_t heartbeatNs() const noexcept { return heartbeatNs_.load(std::memory_order_acquire); }
  // True once the audio thread has ended or is being stopped: a still counter is then no stall.
  bool finishedOrStopping() const noexcept {
    return finished_.load(std::memory_order_acquire) || stopRequested_.load(std::memory_order_acquire) || !running_.load(std::memory_order_acquire);
  }
  // Starts the sentinel thread (sentinel.h) for this engine; after start(). False with *error.
  bool startSentinel(const SentinelConfig& config, std::string* error);
  Sentinel* sentinel() noexcept { return sentinel_.get(); }
  bool popEvent(Event* e) noexcept { return events_.pop(e); }
  bool popDoa(DoaRecord* d) noexcept { return doaRing_.pop(d); }
  bool popMeters(MeterRecord* m) noexcept { return meterRing_.pop(m); }
  // Live candidates (issue 17): with tracking on, the DOA thread also runs the multi-peak
  // localiser and pushes each frame's peaks; a full ring drops the frame and counts it. Only on
  // an engine whose DOA runs on its own thread (false otherwise: nothing to turn on).
  bool trackingAvailable() const noexcept { return peakRing_ != nullptr; }
  void setTracking(bool on) noexcept { trackingOn_.store(on && peakRing_ != nullptr, std::memory_order_release); }
  bool tracking() const noexcept { return trackingOn_.load(std::memory_order_acquire); }
  bool popPeaks(PeakFrame* f) noexcept { return peakRing_ && peakRing_->pop(f); }
  uint64_t droppedPeaks() const noexcept { return peakRing_ ? peakRing_->dropped() : 0; }
  // Model features (log-mel frames, VAD windows, output spectra); see features/feature_tap.h.
  bool popFeature(features::FeatureRecord* r) noexcept { return features_ && features_->pop(r); }
  uint64_t droppedFeatures() const noexcept { return features_ ? features_->dropped() : 0; }
  // The mix tap (mix/tap.h): the streamer turns it on, then pops what the audio thread pushed.
  void setMixTap(bool on) noexcept { mixTapOn_.store(on, std::memory_order_release); }
  // The mics in the tap too (the streamer separates tracked sources from them); off by default.
  void setMixTapMics(bool on) noexcept { mixTapMics_.store(on, std::memory_order_release); }
  bool popMixTap(mix::TapChunk* c) noexcept { return mixTap_.pop(c); }
  uint64_t droppedMixTap() const noexcept { return mixTap_.dropped(); }
  uint64_t blockCounter() const noexcept { return blocks_.load(std::memory_order_acquire); }
  Stats stats() const noexcept;
  const EngineConfig& config() const noexcept { return cfg_; }
  const Backend* backend() const noexcept { return backend_.get(); }
  Backend* backend() noexcept { return backend_.get(); }
  // Latency of beam 0 (processed path) in samples; 0 without an array.
  int latencySamples() const noexcept;
  int beamCount() const noexcept { return static_cast<int>(beams_.size()); }
  // Beam b's current kind and direction (auto-steered beams move with the DOA).
  BeamState beamState(int b) const noexcept;

  // Sequential mode: the same chain without the audio thread, for profiling and tests. open()
  // the backend, then runBlocks() runs up to `blocks` blocks on the calling thread and returns
  // how many ran (fewer at the end of the input). Not after start().
  bool open(std::string* error);
  long long runBlocks(long long blocks) noexcept;

 private:
  struct Beam;
  void threadMain() noexcept;
  // One block; false when the loop must end (end of input, device error, maxBlocks).
  bool runBlock() noexcept;
  void applyCommands() noexcept;
  void runChain(int frames) noexcept;
  // DOA: inline on the audio thread, or on its own thread fed by analysisIn_.
  void runDoa(int frames) noexcept;
  void analysisMain() noexcept;
  // Publishes an estimate and moves the smoothed direction; steers now (inline) or posts it.
  void onDoa(const dsp::DoaResult& r, uint64_t block, bool steerNow) noexcept;
  void steerAuto(double azDeg, double elDeg) noexcept;
  void crossfade(int frames, bool target) noexcept;
  void meterInputs(int frames) noexcept;
  void meterOutputs(int frames) noexcept;
  void publishMeters() noexcept;
  void emit(uint32_t type, uint32_t cause, double a, double b) noexcept;
  void pushMixTap(int frames) noexcept;
  void recordBlockTime(int64_t ns) noexcept;

  EngineConfig cfg_;
  std::unique_ptr<Backend> backend_;
  int bs_;
  int mics_;
  double periodNs_;

  // Planar buffers, each kMaxBlock long, allocated once.
  std::vector<std::vector<float>> in_, trimmed_, beamOut_, proc_, out_;
  std::vector<float> scratch_;
  std::vector<float*> inPtr_, trimPtr_, outPtr_;
  std::vector<const float*> micPtr_;

  std::vector<double> trimTarget_, trimGain_, outTarget_, outGain_;
  double gainCoeff_;  // one-pole smoothing per sample for trims and gains

  std::vector<std::unique_ptr<Beam>> beams_;
  std::unique_ptr<dsp::SrpPhatDoa> doa_;
  double doaX_ = 1, doaY_ = 0, doaZ_ = 0;  // smoothed direction followed by auto beams
  bool doaSeen_ = false;
  bool doaThreaded_ = false;
  // File backend: auto beams follow an estimate exactly doaDelayBlocks_ blocks after the block
  // that completed it, whether the DOA runs inline or on its thread (the audio thread waits for
  // it), so offline output does not depend on thread timing while the DOA uses the second core.
  bool doaPipelined_ = false;
  uint64_t doaDelayBlocks_ = 0;
  std::atomic<uint64_t> doaDoneBlocks_{0};  // blocks the DOA thread has consumed
  // The offline hand-off between the audio and the DOA thread (file backend only; the live path
  // never touches these): each side sleeps on a futex word the other bumps, and wakes the other
  // only when its flag says it sleeps, so a run makes a system call per wait, not a yield loop.
  std::atomic<uint32_t> doaPosted_{0};     // bumped per block handed to the DOA thread
  std::atomic<uint32_t> doaDoneWord_{0};   // bumped with doaDoneBlocks_
  std::atomic<uint32_t> doaSleeping_{0};   // the DOA thread waits on doaPosted_
  std::atomic<uint32_t> audioSleeping_{0};  // the audio thread waits on doaDoneWord_
  // Offline: waits (futex, 2 ms at a time, until stop) for the DOA thread to make progress.
  void waitForDoaThread(uint32_t seen) noexcept;
  SteerRecord pendingSteer_;
  bool havePendingSteer_ = false;
  void applyDueSteering(uint64_t block) noexcept;
  int chunksPerBlock_ = 1;
  std::unique_ptr<ring::SpscRing<MicChunk>> analysisIn_;
  std::unique_ptr<ring::SpscRing<SteerRecord>> steerRing_;
  std::vector<std::vector<float>> analysisBuf_;
  std::vector<const float*> analysisPtr_;
  std::thread analysisThread_;
  std::atomic<bool> analysisStop_{false};
  std::atomic<uint64_t> droppedAnalysis_{0};
  // Live candidates: the localiser and its ring, built with the DOA thread; run only while on.
  std::unique_ptr<dsp::MultiSourceSsl> ssl_;
  std::unique_ptr<ring::SpscRing<PeakFrame>> peakRing_;
  std::atomic<bool> trackingOn_{false};
  void runSsl(int frames, uint64_t block) noexcept;
  std::vector<std::unique_ptr<dsp::ParametricEq>> eq_;
  std::vector<std::unique_ptr<dsp::ParametricEq>> notch_;
  // Feedback frequency shifter per output, after the notches (an exact bypass at 0 Hz).
  std::vector<std::unique_ptr<dsp::FreqShift>> shift_;
  std::vector<std::unique_ptr<dsp::Compressor>> comp_;
  std::vector<float> gr_;

  // Crossfade state: mix_ 0 = dry, 1 = processed; moves by mixStep_ per sample.
  double mix_;
  double mixStep_;
  int beamFadeSamples_ = 64;  // beamformer kind switches crossfade over this

  // Metering window.
  int meterWindowBlocks_;
  int meterBlocks_ = 0;
  MeterRecord meterAcc_{};
  std::vector<double> inSq_, outSq_;

  // Fail-open state (audio thread only).
  uint32_t bypassCause_ = kCauseNone;
  uint32_t seenResume_ = 0;
  int consecutiveOverruns_ = 0;
  uint64_t lastXruns_ = 0;
  bool targetProcessed_ = true;

  // Shared with the control thread.
  std::atomic<int64_t> heartbeatNs_{0};
  std::atomic<bool> wantProcessed_{true};
  std::atomic<uint32_t> resumeRequests_{0};
  std::atomic<int64_t> spinNs_{0};
  std::atomic<int64_t> spinBlocks_{0};
  std::atomic<int64_t> stallMs_{0};
  std::atomic<int64_t> nanBlocks_{0};
  // |sample| above this on a processed output is a runaway (linear, from runawayDb).
  float runawayLimit_ = 15.85f;
  // The chain's state may hold NaN after a non-finite bypass: reset it before going back.
  bool resetChainOnResume_ = false;
  // Returns kCauseNonFinite / kCauseRunaway when a processed output is bad, else kCauseNone.
  uint32_t checkProcessed(int frames) const noexcept;
  void resetChain() noexcept;
  std::atomic<uint64_t> blocks_{0};
  std::atomic<uint64_t> overruns_{0};
  std::atomic<uint32_t> publishedCause_{kCauseNone};
  // Per-beam state for the control plane: relaxed atomics, written once per block.
  struct PublishedBeam {
    std::atomic<int> kind{0};
    std::atomic<bool> autoSteer{false};
    std::atomic<double> azDeg{0}, elDeg{0};
  };
  std::unique_ptr<PublishedBeam[]> publishedBeams_;
  void publishBeams() noexcept;
  std::atomic<bool> publishedTarget_{true};
  std::atomic<double> publishedMix_{1};
  std::atomic<bool> running_{false};
  std::atomic<bool> finished_{false};
  std::atomic<bool> stopRequested_{false};
  std::atomic<bool> realtime_{false};
  std::atomic<uint64_t> lockedBytes_{0};
  void lockBuffers() noexcept;
  std::atomic<int64_t> lastBlockNs_{0};
  std::atomic<int64_t> maxBlockNs_{0};
  std::atomic<int64_t> totalBlockNs_{0};
  static constexpr int kHistBins = 20001;  // 1 us bins, 0..20 ms, last bin = beyond
  std::unique_ptr<std::atomic<uint32_t>[]> hist_;

  ring::SpscRing<Command> commands_;
  ring::SpscRing<Event> events_;
  ring::SpscRing<DoaRecord> doaRing_;
  ring::SpscRing<MeterRecord> meterRing_;
  std::unique_ptr<features::FeatureTap> features_;
  ring::SpscRing<mix::TapChunk> mixTap_;
  std::atomic<bool> mixTapOn_{false};
  std::atomic<bool> mixTapMics_{false};
  mix::TapChunk mixChunk_{};  // the audio thread's staging record (no allocation per block)

  std::thread thread_;
  std::unique_ptr<Sentinel> sentinel_;
  bool opened_ = false;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace engine
