// The audio engine core; see engine.h for the chain and the allocation rules.
#include "engine.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "dsp/beamformer.h"
#include "dsp/biquad.h"
#include "dsp/compressor.h"
#include "dsp/doa.h"
#include "dsp/geometry.h"
#include "dsp/ssl.h"
#include "rt.h"

namespace engine {

namespace {

constexpr double kPi = 3.14159265358979323846;

double dbToGain(double db) { return std::pow(10.0, db / 20.0); }

uint32_t nextPow2(uint64_t n) {
  uint32_t p = 2;
  while (p < n && p < (1u << 24)) p <<= 1;
  return p;
}

// Rings: commands and events need room for a burst between two 10 ms control ticks; the DOA
// ring holds a whole offline file's track when the file backend runs faster than JS drains it.
uint32_t doaCapacity(const EngineConfig& c) {
  if (c.backend == "file") return nextPow2(1u << 16);
  return 1024;
}

// The offline DOA hand-off's futex (never on the live path): sleep while *word == seen, at most
// timeoutNs; wake every sleeper.
void futexWait(std::atomic<uint32_t>* word, uint32_t seen, long timeoutNs) noexcept {
  const timespec ts{0, timeoutNs};
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, seen, &ts, nullptr, 0);
}
void futexWake(std::atomic<uint32_t>* word) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}
constexpr long kOfflineWaitNs = 2'000'000;  // a sleeper looks at the stop flags this often

dsp::Geometry toGeometry(const EngineConfig& c) {
  dsp::Geometry g;
  g.sampleRate = c.sampleRate;
  for (const Mic& m : c.mics) g.mics.push_back({m.x, m.y, m.z});
  return g;
}

}  // namespace

// One beam: both beamformer kinds are built up front, so switching kind on the audio thread is a
// pointer swap plus a one-block crossfade, never a construction.
struct Engine::Beam {
  std::unique_ptr<dsp::Beamformer> das, mvdr;
  dsp::Beamformer* active = nullptr;
  // Kind switch in progress: the old beamformer keeps playing while the new one, started from
  // a clean history, fills its pipeline (holdSamples = its latency), then a linear crossfade.
  dsp::Beamformer* fadingOut = nullptr;
  int holdSamples = 0;
  int fadePos = 0;
  bool autoSteer = false;
  double az = 0, el = 0;
};

Engine::Engine(const EngineConfig& config)
    : cfg_(config),
      bs_(config.blockSize),
      mics_(static_cast<int>(config.mics.size())),
      periodNs_(1e9 * config.blockSize / config.sampleRate),
      commands_(1024),
      events_(1024),
      doaRing_(doaCapacity(config)),
      meterRing_(64),
      mixTap_(mix::kTapCapacity) {
  // Re-check what TypeScript already validated: the core must not trust a test program either.
  if (bs_ < kMinBlock || bs_ > kMaxBlock) throw std::runtime_error("blockSize must be 32..1024");
  if (cfg_.inputs < 1 || cfg_.inputs > kMaxInputs) throw std::runtime_error("inputs must be 1..64");
  if (cfg_.outputs < 1 || cfg_.outputs > kMaxOutputs) throw std::runtime_error("outputs must be 1..16");
  if (mics_ > cfg_.inputs) throw std::runtime_error("the array has more mics than the engine has inputs");
  if (mics_ == 1) throw std::runtime_error("an array needs at least 2 mics");
  if (cfg_.dryMap.empty()) {
    for (int k = 0; k < cfg_.outputs; k++) cfg_.dryMap.push_back(k % cfg_.inputs);
  }
  if (static_cast<int>(cfg_.dryMap.size()) != cfg_.outputs) throw std::runtime_error("dryMap must have one entry per output");
  for (int d : cfg_.dryMap) {
    if (d < 0 || d >= cfg_.inputs) throw std::runtime_error("dryMap names an input that does not exist");
  }
  if (mics_ > 0 && cfg_.beams.empty()) cfg_.beams.push_back(BeamConfig{});
  if (static_cast<int>(cfg_.beams.size()) > kMaxBeams) throw std::runtime_error("at most 16 beams");
  if (mics_ == 0) cfg_.beams.clear();

  auto planar = [&](int channels) { return std::vector<std::vector<float>>(channels, std::vector<float>(kMaxBlock, 0.0f)); };
  in_ = planar(cfg_.inputs);
  trimmed_ = planar(cfg_.inputs);
  beamOut_ = planar(static_cast<int>(cfg_.beams.size()));
  proc_ = planar(cfg_.outputs);
  out_ = planar(cfg_.outputs);
  scratch_.assign(kMaxBlock, 0.0f);
  for (auto& ch : in_) inPtr_.push_back(ch.data());
  for (auto& ch : trimmed_) trimPtr_.push_back(ch.data());
  for (int m = 0; m < mics_; m++) micPtr_.push_back(trimmed_[m].data());
  for (auto& ch : out_) outPtr_.push_back(ch.data());

  trimTarget_.assign(cfg_.inputs, 1.0);
  trimGain_.assign(cfg_.inputs, 1.0);
  outTarget_.assign(cfg_.outputs, 1.0);
  outGain_.assign(cfg_.outputs, 1.0);
  // About 5 ms to 63%: fast enough to feel immediate, slow enough not to zipper.
  gainCoeff_ = 1.0 - std::exp(-1.0 / (0.005 * cfg_.sampleRate));

  if (mics_ > 0) {
    const dsp::Geometry g = toGeometry(cfg_);
    for (const BeamConfig& bc : cfg_.beams) {
      auto beam = std::make_unique<Beam>();
      beam->das = dsp::makeDelayAndSum(g, kMaxBlock);
      beam->mvdr = dsp::makeMvdr(g, kMaxBlock);
      beam->active = bc.kind == "mvdr" ? beam->mvdr.get() : beam->das.get();
      beam->autoSteer = bc.autoSteer;
      beam->az = bc.azDeg;
      beam->el = bc.elDeg;
      beam->das->steer(bc.azDeg, bc.elDeg);
      beam->mvdr->steer(bc.azDeg, bc.elDeg);
      // Stagger the beams' frame phases (block-based beamformers such as the STFT MVDR do
      // their FFT work once per hop): beam b starts b blocks into its frame, so four beams'
      // hops land in four different blocks instead of one, which keeps the worst block short.
      // Silence in, nothing out; the latency is unchanged.
      const int stagger = static_cast<int>(beams_.size()) * bs_;
      for (int done = 0; done < stagger; done += bs_) {
        beam->das->process(micPtr_.data(), scratch_.data(), bs_);
        beam->mvdr->process(micPtr_.data(), scratch_.data(), bs_);
      }
      beams_.push_back(std::move(beam));
    }
    publishedBeams_.reset(new PublishedBeam[beams_.size()]);
    publishBeams();
    if (cfg_.doa) {
      // 16 mics and more: a new estimate every whole frame instead of every half frame. The cost
      // grows with the pairs (120 at 16 mics), and the averaging over hops makes up for the lost
      // overlap (docs/dsp.md: same median error on the 16-mic ring, half the CPU).
      const int doaHop = mics_ >= 16 ? cfg_.doaFrameSize : 0;
      doa_ = std::make_unique<dsp::SrpPhatDoa>(g, cfg_.doaFrameSize, doaHop);
      doaThreaded_ = cfg_.doaThread;
      doaPipelined_ = cfg_.backend == "file";
      doaDelayBlocks_ = static_cast<uint64_t>((doa_->hopSize() + bs_ - 1) / bs_);
      chunksPerBlock_ = (bs_ + kChunkFrames - 1) / kChunkFrames;
      // Room for about 100 ms of mic blocks: the DOA thread sleeps 1 to 5 ms between looks.
      const uint64_t perBlock = static_cast<uint64_t>(mics_) * chunksPerBlock_;
      const uint64_t blocks = std::max<uint64_t>(8, static_cast<uint64_t>(0.1 * cfg_.sampleRate / bs_) + 1);
      analysisIn_ = std::make_unique<ring::SpscRing<MicChunk>>(nextPow2(perBlock * blocks));
      steerRing_ = std::make_unique<ring::SpscRing<SteerRecord>>(64);
      analysisBuf_.assign(mics_, std::vector<float>(static_cast<size_t>(chunksPerBlock_) * kChunkFrames, 0.0f));
      for (auto& ch : analysisBuf_) analysisPtr_.push_back(ch.data());
      if (doaThreaded_) {
        // Live candidates (issue 17): the localiser the offline --stems path uses, on the same
        // mic blocks; 256 frames are 2.7 s at 48 kHz (a 1024 frame, hop 512) for a control side
        // that drains every 50 ms.
        dsp::SslOptions so;
        so.frameSize = cfg_.doaFrameSize;
        ssl_ = std::make_unique<dsp::MultiSourceSsl>(g, so);
        peakRing_ = std::make_unique<ring::SpscRing<PeakFrame>>(256);
      }
    }
  }
  for (int k = 0; k < cfg_.outputs; k++) {
    eq_.push_back(std::make_unique<dsp::ParametricEq>(cfg_.sampleRate, kEqBands));
    notch_.push_back(std::make_unique<dsp::ParametricEq>(cfg_.sampleRate, kNotches));
    shift_.push_back(std::make_unique<dsp::FreqShift>(cfg_.sampleRate));
    comp_.push_back(std::make_unique<dsp::Compressor>(cfg_.sampleRate));
  }
  gr_.assign(cfg_.outputs, 0.0f);

  runawayLimit_ = static_cast<float>(dbToGain(cfg_.runawayDb));
  mix_ = cfg_.startProcessed ? 1.0 : 0.0;
  targetProcessed_ = cfg_.startProcessed;
  wantProcessed_.store(cfg_.startProcessed);
  publishedTarget_.store(cfg_.startProcessed);
  publishedMix_.store(mix_);
  mixStep_ = cfg_.crossfadeMs <= 0 ? 1.0 : 1.0 / (cfg_.crossfadeMs * 0.001 * cfg_.sampleRate);
  beamFadeSamples_ = std::max(bs_, static_cast<int>(std::lround(cfg_.crossfadeMs * 0.001 * cfg_.sampleRate)));

  // Meters: a window of about 20 ms, at least one block.
  meterWindowBlocks_ = std::max(1, static_cast<int>(std::lround(0.02 * cfg_.sampleRate / bs_)));
  meterAcc_.inputs = cfg_.inputs;
  meterAcc_.outputs = cfg_.outputs;
  inSq_.assign(cfg_.inputs, 0.0);
  outSq_.assign(cfg_.outputs, 0.0);

  features_ = std::make_unique<features::FeatureTap>(cfg_.sampleRate, cfg_.inputs, cfg_.outputs, kMaxBlock,
                                                     cfg_.backend == "file" ? 4096u : 512u);
  // Offline the analysers see every feature: the audio thread waits for the ring instead of dropping.
  if (cfg_.backend == "file" && cfg_.losslessFeatures) features_->waitForRoom(&stopRequested_);

  hist_.reset(new std::atomic<uint32_t>[kHistBins]);
  for (int i = 0; i < kHistBins; i++) hist_[i].store(0, std::memory_order_relaxed);

  std::string error;
  backend_ = makeBackend(cfg_, &error);
  if (!backend_) throw std::runtime_error(error);
}

Engine::~Engine() { stop(nullptr); }

bool Engine::open(std::string* error) {
  if (opened_) return true;
  if (!backend_->open(error)) return false;
  opened_ = true;
  heartbeatNs_.store(rt::nowNs(), std::memory_order_release);
  return true;
}

bool Engine::start(std::string* error) {
  if (started_) {
    if (error) *error = "the engine is already started";
    return false;
  }
  if (stopped_) {
    if (error) *error = "the engine was stopped; create a new one";
    return false;
  }
  if (!open(error)) return false;
  lockBuffers();
  started_ = true;
  running_.store(true, std::memory_order_release);
  try {
    if (doa_ && doaThreaded_) analysisThread_ = std::thread([this] { analysisMain(); });
    thread_ = std::thread([this] { threadMain(); });
  } catch (const std::exception& e) {
    analysisStop_.store(true, std::memory_order_release);
    if (analysisThread_.joinable()) analysisThread_.join();
    running_.store(false);
    if (error) *error = std::string("could not start the audio thread: ") + e.what();
    return false;
  }
  return true;
}

bool Engine::stop(std::string* error) {
  if (stopped_) return true;
  stopped_ = true;
  // The sentinel first: a stopping audio thread is not a stall.
  if (sentinel_) sentinel_->stop();
  stopRequested_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  analysisStop_.store(true, std::memory_order_release);
  if (doaPipelined_) futexWake(&doaPosted_);
  if (analysisThread_.joinable()) analysisThread_.join();
  running_.store(false, std::memory_order_release);
  if (opened_ && backend_) {
    std::string closeError;
    if (!backend_->close(&closeError)) {
      if (error) *error = closeError;
      return false;
    }
  }
  return true;
}

void Engine::lockBuffers() noexcept {
  // The audio thread's working set, so it never takes a page fault (the rings lock themselves).
  uint64_t n = 0;
  for (auto* set : {&in_, &trimmed_, &beamOut_, &proc_, &out_, &analysisBuf_}) {
    for (auto& ch : *set) n += rt::lockRegion(ch.data(), ch.size() * sizeof(float));
  }
  n += rt::lockRegion(scratch_.data(), scratch_.size() * sizeof(float));
  n += rt::lockRegion(hist_.get(), sizeof(std::atomic<uint32_t>) * kHistBins);
  lockedBytes_.store(n, std::memory_order_relaxed);
}

void Engine::heartbeat() noexcept { heartbeatNs_.store(rt::nowNs(), std::memory_order_release); }

void Engine::setProcessing(bool on) noexcept {
  wantProcessed_.store(on, std::memory_order_release);
  if (on) resumeRequests_.fetch_add(1, std::memory_order_acq_rel);
}

bool Engine::pushCommand(const Command& c) noexcept { return commands_.push(c); }

void Engine::injectDspSpin(int64_t us, int64_t blocks) noexcept {
  spinNs_.store(us * 1000, std::memory_order_relaxed);
  spinBlocks_.store(blocks, std::memory_order_release);
}

bool Engine::startSentinel(const SentinelConfig& config, std::string* error) {
  if (!started_ || stopped_) {
    if (error) *error = "the sentinel needs a running engine";
    return false;
  }
  if (sentinel_) {
    if (error) *error = "the sentinel is already running";
    return false;
  }
  auto s = std::make_unique<Sentinel>(*this, config);
  if (!s->start(error)) return false;
  sentinel_ = std::move(s);
  return true;
}

int Engine::latencySamples() const noexcept {
  if (beams_.empty()) return 0;
  return beams_[0]->active->latencySamples();
}

void Engine::publishBeams() noexcept {
  for (size_t b = 0; b < beams_.size(); b++) {
    const Beam& beam = *beams_[b];
    PublishedBeam& p = publishedBeams_[b];
    p.kind.store(beam.active == beam.mvdr.get() ? 1 : 0, std::memory_order_relaxed);
    p.autoSteer.store(beam.autoSteer, std::memory_order_relaxed);
    p.azDeg.store(beam.az, std::memory_order_relaxed);
    p.elDeg.store(beam.el, std::memory_order_relaxed);
  }
}

BeamState Engine::beamState(int b) const noexcept {
  BeamState s;
  if (b < 0 || b >= static_cast<int>(beams_.size())) return s;
  const PublishedBeam& p = publishedBeams_[b];
  s.kind = p.kind.load(std::memory_order_relaxed);
  s.autoSteer = p.autoSteer.load(std::memory_order_relaxed);
  s.azDeg = p.azDeg.load(std::memory_order_relaxed);
  s.elDeg = p.elDeg.load(std::memory_order_relaxed);
  return s;
}

Stats Engine::stats() const noexcept {
  Stats s;
  s.blocks = blocks_.load(std::memory_order_acquire);
  s.xruns = backend_ ? backend_->xruns() : 0;
  s.overruns = overruns_.load(std::memory_order_relaxed);
  s.droppedCommands = commands_.dropped();
  s.droppedEvents = events_.dropped();
  s.droppedDoa = doaRing_.dropped();
  s.droppedMeters = meterRing_.dropped();
  s.droppedAnalysis = droppedAnalysis_.load(std::memory_order_relaxed);
  s.processed = publishedTarget_.load(std::memory_order_relaxed);
  s.mix = publishedMix_.load(std::memory_order_relaxed);
  s.bypassCause = publishedCause_.load(std::memory_order_relaxed);
  s.lastUs = lastBlockNs_.load(std::memory_order_relaxed) / 1000.0;
  s.maxUs = maxBlockNs_.load(std::memory_order_relaxed) / 1000.0;
  s.blockPeriodUs = periodNs_ / 1000.0;
  s.running = running_.load(std::memory_order_acquire) && !finished_.load(std::memory_order_acquire);
  s.finished = finished_.load(std::memory_order_acquire);
  s.realtime = realtime_.load(std::memory_order_relaxed);
  s.lockedBytes = lockedBytes_.load(std::memory_order_relaxed);
  // Percentiles from the 1 us histogram: a snapshot while the thread keeps counting is fine.
  uint64_t total = 0;
  for (int i = 0; i < kHistBins; i++) total += hist_[i].load(std::memory_order_relaxed);
  if (total > 0) {
    s.meanUs = totalBlockNs_.load(std::memory_order_relaxed) / 1000.0 / static_cast<double>(total);
    const uint64_t at50 = (total + 1) / 2, at99 = (total * 99 + 99) / 100;
    uint64_t seen = 0;
    bool have50 = false;
    for (int i = 0; i < kHistBins; i++) {
      seen += hist_[i].load(std::memory_order_relaxed);
      if (!have50 && seen >= at50) {
        s.p50Us = i;
        have50 = true;
      }
      if (seen >= at99) {
        s.p99Us = i;
        break;
      }
    }
  }
  return s;
}

void Engine::threadMain() noexcept {
  rt::markAudioThread(true);
  if (cfg_.realtimePriority) realtime_.store(rt::tryRealtimePriority(70), std::memory_order_relaxed);
  rt::prefaultStack(64 * 1024);
  while (!stopRequested_.load(std::memory_order_acquire)) {
    if (!runBlock()) break;
  }
  finished_.store(true, std::memory_order_release);
  rt::markAudioThread(false);
}

long long Engine::runBlocks(long long n) noexcept {
  if (!opened_ || started_ || stopped_) return 0;
  doaThreaded_ = false;  // no DOA thread in sequential mode
  const uint64_t before = blocks_.load(std::memory_order_relaxed);
  while (!finished_.load(std::memory_order_relaxed) && static_cast<long long>(blocks_.load(std::memory_order_relaxed) - before) < n) {
    // The caller is the control plane, so it is alive by definition.
    heartbeat();
    if (!runBlock()) finished_.store(true, std::memory_order_release);
  }
  return static_cast<long long>(blocks_.load(std::memory_order_relaxed) - before);
}

void Engine::emit(uint32_t type, uint32_t cause, double a, double b) noexcept {
  Event e;
  e.type = type;
  e.cause = cause;
  e.block = blocks_.load(std::memory_order_relaxed);
  e.a = a;
  e.b = b;
  events_.push(e);
}

// The mix tap: the outputs as written and the bed (mean of the inputs), 32 frames a record, and
// the array's mics while the streamer separates tracked sources. A full ring drops and counts
// (the streamer is late); this thread never waits for it.
void Engine::pushMixTap(int frames) noexcept {
  const int outs = std::min(cfg_.outputs, mix::kTapOutputs);
  const float inv = 1.0f / static_cast<float>(cfg_.inputs);
  const uint64_t block = blocks_.load(std::memory_order_relaxed);
  const int mics = mixTapMics_.load(std::memory_order_relaxed) ? std::min(mics_, mix::kTapMics) : 0;
  mix::TapChunk& c = mixChunk_;
  for (int at = 0; at < frames; at += mix::kTapFrames) {
    const int m = std::min(mix::kTapFrames, frames - at);
    c.block = block;
    c.frames = m;
    c.outputs = outs;
    for (int k = 0; k < outs; k++) std::memcpy(c.out[k], outPtr_[k] + at, sizeof(float) * m);
    c.mics = mics;
    for (int k = 0; k < mics; k++) std::memcpy(c.mic[k], micPtr_[k] + at, sizeof(float) * m);
    for (int i = 0; i < m; i++) {
      float sum = 0;
      for (int ch = 0; ch < cfg_.inputs; ch++) sum += inPtr_[ch][at + i];
      c.bed[i] = sum * inv;
    }
    mixTap_.push(c);
  }
}

bool Engine::runBlock() noexcept {
  // Rehearsal hook: the audio thread stops producing for a while (nanosleep: no allocation, no lock).
  if (stallMs_.load(std::memory_order_relaxed) > 0) {
    const int64_t ms = stallMs_.exchange(0, std::memory_order_acq_rel);
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  const int n = backend_->read(inPtr_.data(), bs_);
  if (n < 0) {
    emit(kEvBackendError, 0, 0, 0);
    return false;
  }
  if (n == 0) {
    emit(kEvEndOfInput, 0, 0, 0);
    return false;
  }
  const int64_t t0 = rt::nowNs();
  applyCommands();

  // Native fail-open, part 1: the JS heartbeat, and requests to go back to processed.
  const int64_t hbAge = t0 - heartbeatNs_.load(std::memory_order_acquire);
  const bool stale = cfg_.heartbeatTimeoutMs > 0 && hbAge > static_cast<int64_t>(cfg_.heartbeatTimeoutMs * 1e6);
  const uint32_t resume = resumeRequests_.load(std::memory_order_acquire);
  if (resume != seenResume_) {
    seenResume_ = resume;
    // Only the control plane lifts a native bypass, and only while it is demonstrably alive.
    if (!stale) {
      if (resetChainOnResume_) {
        resetChain();
        resetChainOnResume_ = false;
      }
      bypassCause_ = kCauseNone;
      consecutiveOverruns_ = 0;
    }
  }
  const bool want = wantProcessed_.load(std::memory_order_acquire);
  if (stale && bypassCause_ == kCauseNone && want) {
    bypassCause_ = kCauseHeartbeat;
    emit(kEvNativeBypass, kCauseHeartbeat, hbAge / 1e6, cfg_.heartbeatTimeoutMs);
  }

  meterInputs(n);

  // Overrun bypass skips the chain once the output is fully dry: the DSP is what is late, so the
  // dry signal must not wait for it. Other bypasses keep the chain warm for a clean return.
  const bool chainNeeded = !(bypassCause_ == kCauseOverrun && mix_ <= 0.0);
  if (chainNeeded) {
    runChain(bs_);
    const int64_t used = rt::nowNs() - t0;
    const double budget = periodNs_ * cfg_.budgetFraction;
    if (used > budget) {
      overruns_.fetch_add(1, std::memory_order_relaxed);
      consecutiveOverruns_++;
      // With the budget check off (offline runs) late blocks are counted, not reported: an
      // unpaced file run would otherwise flood the event ring and crowd out real news.
      if (targetProcessed_ && cfg_.overrunBlocks > 0) emit(kEvOverrun, 0, used / 1e3, budget / 1e3);
      // Native fail-open, part 2: K late blocks in a row.
      if (cfg_.overrunBlocks > 0 && consecutiveOverruns_ >= cfg_.overrunBlocks && bypassCause_ == kCauseNone && want) {
        bypassCause_ = kCauseOverrun;
        emit(kEvNativeBypass, kCauseOverrun, used / 1e3, budget / 1e3);
      }
    } else {
      consecutiveOverruns_ = 0;
    }
    // Native fail-open, part 3: a NaN, an infinity or a runaway level on a processed output. No
    // crossfade (it would mix the bad samples in): this block is already dry.
    const uint32_t bad = checkProcessed(bs_);
    if (bad != kCauseNone) {
      if (bypassCause_ == kCauseNone && want) emit(kEvNativeBypass, bad, 0, cfg_.runawayDb);
      if (bypassCause_ == kCauseNone || bypassCause_ == kCauseHeartbeat) bypassCause_ = bad;
      mix_ = 0.0;
      resetChainOnResume_ = true;
    }
  }

  const bool target = want && bypassCause_ == kCauseNone;
  if (target && !targetProcessed_) emit(kEvProcessed, 0, 0, 0);
  targetProcessed_ = target;
  crossfade(bs_, target);
  meterOutputs(n);
  features_->process(inPtr_.data(), cfg_.inputs, outPtr_.data(), cfg_.outputs, n, blocks_.load(std::memory_order_relaxed));
  if (mixTapOn_.load(std::memory_order_relaxed)) pushMixTap(n);

  const uint64_t x = backend_->xruns();
  if (x != lastXruns_) {
    lastXruns_ = x;
    emit(kEvXrun, 0, static_cast<double>(x), 0);
  }
  publishedTarget_.store(target, std::memory_order_relaxed);
  publishedMix_.store(mix_, std::memory_order_relaxed);
  publishedCause_.store(bypassCause_, std::memory_order_relaxed);
  publishBeams();
  recordBlockTime(rt::nowNs() - t0);

  const bool ok = backend_->write(outPtr_.data(), n);
  const uint64_t done = blocks_.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (!ok) {
    emit(kEvBackendError, 1, 0, 0);
    return false;
  }
  if (n < bs_) {  // a short read is the last block of a file
    emit(kEvEndOfInput, 0, 0, 0);
    return false;
  }
  if (cfg_.maxBlocks > 0 && static_cast<long long>(done) >= cfg_.maxBlocks) return false;
  return true;
}

void Engine::applyCommands() noexcept {
  Command c;
  while (commands_.pop(&c)) {
    const int t = c.target;
    switch (c.id) {
      case kCmdSetInputTrim:
        if (t >= 0 && t < cfg_.inputs) trimTarget_[t] = dbToGain(c.v[0]);
        break;
      case kCmdSetOutputGain:
        if (t >= 0 && t < cfg_.outputs) outTarget_[t] = dbToGain(c.v[0]);
        break;
      case kCmdSetEqBand:
        if (t >= 0 && t < cfg_.outputs && c.index >= 0 && c.index < kEqBands) {
          dsp::BandParams p;
          const int type = static_cast<int>(c.v[0]);
          p.type = type == 1 ? dsp::BandType::LowShelf
                   : type == 2 ? dsp::BandType::HighShelf
                   : type == 3 ? dsp::BandType::HighPass
                   : type == 4 ? dsp::BandType::LowPass
                               : dsp::BandType::Peak;
          p.freqHz = c.v[1];
          p.gainDb = c.v[2];
          p.q = c.v[3];
          p.enabled = c.v[4] != 0;
          eq_[t]->setBand(c.index, p);
        }
        break;
      case kCmdSetNotch:
        // A feedback notch: glides and crossfades like an EQ band (ParametricEq), so no click.
        if (t >= 0 && t < cfg_.outputs && c.index >= 0 && c.index < kNotches) {
          dsp::BandParams p;
          p.type = dsp::BandType::Peak;
          p.freqHz = c.v[0];
          p.gainDb = c.v[1];
          p.q = c.v[2];
          p.enabled = c.v[3] != 0;
          notch_[t]->setBand(c.index, p);
        }
        break;
      case kCmdSetShift:
        // The feedback frequency shifter: glides to the new shift, crossfades in and out of bypass.
        if (t >= 0 && t < cfg_.outputs) {
          shift_[t]->setShiftHz(c.v[0]);
          // The output's howl detector follows: a shifted howl's peak stands less far over its neighbours.
          if (features_) features_->setHowlShifted(t, c.v[0] > 0);
        }
        break;
      case kCmdSetCompressor:
        if (t >= 0 && t < cfg_.outputs) {
          dsp::CompressorParams p;
          p.thresholdDb = c.v[0];
          p.ratio = c.v[1];
          p.kneeDb = c.v[2];
          p.attackMs = c.v[3];
          p.releaseMs = c.v[4];
          p.makeupDb = c.v[5];
          p.enabled = c.v[6] != 0;
          comp_[t]->setParams(p);
        }
        break;
      case kCmdSteerBeam:
        if (t >= 0 && t < static_cast<int>(beams_.size())) {
          Beam& b = *beams_[t];
          b.autoSteer = false;
          b.az = c.v[0];
          b.el = c.v[1];
          b.das->steer(b.az, b.el);
          b.mvdr->steer(b.az, b.el);
        }
        break;
      case kCmdSetBeamAuto:
        if (t >= 0 && t < static_cast<int>(beams_.size())) beams_[t]->autoSteer = c.v[0] != 0;
        break;
      case kCmdSetBeamformer:
        if (t >= 0 && t < static_cast<int>(beams_.size())) {
          Beam& b = *beams_[t];
          dsp::Beamformer* next = c.index == 1 ? b.mvdr.get() : b.das.get();
          if (next != b.active) {
            // Going back to the one still fading out: its history is live, no refill needed.
            // Otherwise its history is stale (it was idle), so clear it and wait for it to fill.
            const bool live = next == b.fadingOut;
            if (!live) next->resetStream();
            b.fadingOut = b.active;
            b.active = next;
            b.holdSamples = live ? 0 : next->latencySamples();
            b.fadePos = 0;
          }
        }
        break;
      default:
        break;
    }
  }
}

void Engine::applyDueSteering(uint64_t block) noexcept {
  // Records arrive in block order; each is applied in turn (the steering deadband depends on
  // where the beams already point), exactly when due.
  for (;;) {
    if (!havePendingSteer_) {
      if (!steerRing_->pop(&pendingSteer_)) return;
      havePendingSteer_ = true;
    }
    if (pendingSteer_.block + doaDelayBlocks_ > block) return;
    steerAuto(pendingSteer_.azDeg, pendingSteer_.elDeg);
    havePendingSteer_ = false;
  }
}

void Engine::runDoa(int frames) noexcept {
  const uint64_t now = blocks_.load(std::memory_order_relaxed);
  if (!doaThreaded_) {
    doa_->push(micPtr_.data(), frames);
    if (doa_->hasNew()) onDoa(doa_->latest(), now, !doaPipelined_);
    if (doaPipelined_) applyDueSteering(now);
    return;
  }
  // Hand the block to the DOA thread: all of it or (ring full) none of it, never waiting live.
  // Offline (file backend) nothing may be dropped, so there the audio thread waits for room.
  const uint32_t need = static_cast<uint32_t>(mics_ * chunksPerBlock_);
  uint32_t index;
  int32_t filled = analysisIn_->getWriteIndex(&index);
  while (doaPipelined_ && filled >= 0 && analysisIn_->capacity() - static_cast<uint32_t>(filled) < need && !stopRequested_.load(std::memory_order_acquire)) {
    const uint32_t seen = doaDoneWord_.load(std::memory_order_seq_cst);
    filled = analysisIn_->getWriteIndex(&index);
    if (filled >= 0 && analysisIn_->capacity() - static_cast<uint32_t>(filled) >= need) break;
    waitForDoaThread(seen);
    filled = analysisIn_->getWriteIndex(&index);
  }
  if (filled < 0 || analysisIn_->capacity() - static_cast<uint32_t>(filled) < need) {
    droppedAnalysis_.fetch_add(1, std::memory_order_relaxed);
  } else {
    const uint64_t block = blocks_.load(std::memory_order_relaxed);
    for (int c = 0; c < chunksPerBlock_; c++) {
      const int offset = c * kChunkFrames;
      const int n = std::max(0, std::min(kChunkFrames, frames - offset));
      for (int m = 0; m < mics_; m++) {
        MicChunk& r = analysisIn_->slot(index++);
        r.block = block;
        r.frames = n;
        std::memcpy(r.s, micPtr_[m] + offset, sizeof(float) * n);
      }
    }
    analysisIn_->commitWrite(index);
    if (doaPipelined_) {
      // Wake the DOA thread once a hop's blocks are in (it has nothing to compute before), or
      // when this thread is about to wait for it (waitForDoaThread).
      const uint32_t posted = doaPosted_.fetch_add(1, std::memory_order_seq_cst) + 1;
      if (posted % doaDelayBlocks_ == 0 && doaSleeping_.load(std::memory_order_seq_cst)) futexWake(&doaPosted_);
    }
  }
  if (doaPipelined_) {
    // Offline: wait until the DOA thread has consumed every block whose estimate is due now.
    if (now >= doaDelayBlocks_) {
      const uint64_t due = now - doaDelayBlocks_ + 1;
      while (doaDoneBlocks_.load(std::memory_order_acquire) < due && !stopRequested_.load(std::memory_order_acquire)) {
        const uint32_t seen = doaDoneWord_.load(std::memory_order_seq_cst);
        if (doaDoneBlocks_.load(std::memory_order_acquire) >= due) break;
        waitForDoaThread(seen);
      }
    }
    applyDueSteering(now);
    return;
  }
  // Directions the DOA thread has smoothed since the last block: only the newest matters.
  SteerRecord s;
  bool have = false;
  SteerRecord latest;
  while (steerRing_->pop(&s)) {
    latest = s;
    have = true;
  }
  if (have) steerAuto(latest.azDeg, latest.elDeg);
}

void Engine::waitForDoaThread(uint32_t seen) noexcept {
  // The caller read `seen` before it last found the DOA thread behind: if the DOA thread moved on
  // since, the futex returns at once; if it moves on later, it sees the flag and wakes us.
  if (doaSleeping_.load(std::memory_order_seq_cst)) futexWake(&doaPosted_);
  audioSleeping_.store(1, std::memory_order_seq_cst);
  futexWait(&doaDoneWord_, seen, kOfflineWaitNs);
  audioSleeping_.store(0, std::memory_order_relaxed);
}

void Engine::analysisMain() noexcept {
  // Not the audio thread, but held to the same rules (no allocation, no locks), and marked so
  // the allocation-counting build checks it too.
  rt::markAudioThread(true);
  const uint32_t need = static_cast<uint32_t>(mics_ * chunksPerBlock_);
  // Wake about four times per hop (1 to 5 ms): an estimate needs a whole hop of samples anyway,
  // the ring holds 100 ms, and waking every millisecond was a visible share of this thread's CPU.
  // Offline (unpaced) the audio thread fills a hop within a millisecond or so and may wait for
  // this thread, so there it sleeps on a futex the audio thread wakes when it posts a block.
  const auto nap = std::chrono::microseconds(std::clamp<int64_t>(static_cast<int64_t>(1e6 * doa_->hopSize() / cfg_.sampleRate / 4), 1000, 5000));
  for (;;) {
    uint32_t index;
    if (analysisIn_->getReadIndex(&index) < static_cast<int32_t>(need)) {
      // Stop only once the ring is drained, so an offline run's last estimates are published.
      if (analysisStop_.load(std::memory_order_acquire)) break;
      if (doaPipelined_) {
        const uint32_t seen = doaPosted_.load(std::memory_order_seq_cst);
        doaSleeping_.store(1, std::memory_order_seq_cst);
        if (analysisIn_->getReadIndex(&index) < static_cast<int32_t>(need)) futexWait(&doaPosted_, seen, kOfflineWaitNs);
        doaSleeping_.store(0, std::memory_order_relaxed);
      } else {
        std::this_thread::sleep_for(nap);
      }
      continue;
    }
    const uint64_t block = analysisIn_->slot(index).block;
    int frames = 0;
    for (int c = 0; c < chunksPerBlock_; c++) {
      for (int m = 0; m < mics_; m++) {
        const MicChunk& r = analysisIn_->slot(index++);
        std::memcpy(analysisBuf_[m].data() + c * kChunkFrames, r.s, sizeof(float) * r.frames);
        if (m == 0) frames += r.frames;
      }
    }
    analysisIn_->commitRead(index);
    doa_->push(analysisPtr_.data(), frames);
    if (doa_->hasNew()) onDoa(doa_->latest(), block, false);
    if (trackingOn_.load(std::memory_order_relaxed)) runSsl(frames, block);
    doaDoneBlocks_.store(block + 1, std::memory_order_release);
    if (doaPipelined_) {
      doaDoneWord_.fetch_add(1, std::memory_order_seq_cst);
      if (audioSleeping_.load(std::memory_order_seq_cst)) futexWake(&doaDoneWord_);
    }
  }
  rt::markAudioThread(false);
}

void Engine::runSsl(int frames, uint64_t block) noexcept {
  // DOA thread: the localiser allocates nothing after its constructor; the record is on the stack.
  static_assert(kPeakSlots == dsp::kSslMaxSources, "PeakFrame holds every peak the localiser can give");
  ssl_->push(analysisPtr_.data(), frames);
  if (!ssl_->hasNew()) return;
  dsp::SslPeak peaks[dsp::kSslMaxSources];
  PeakFrame f;
  f.block = block + 1;
  f.count = ssl_->peaks(peaks);
  for (int i = 0; i < f.count; i++) {
    f.azimuth[i] = static_cast<float>(peaks[i].azimuth);
    f.energy[i] = static_cast<float>(peaks[i].energy);
  }
  peakRing_->push(f);  // full: dropped and counted (droppedPeaks)
}

void Engine::onDoa(const dsp::DoaResult& r, uint64_t block, bool steerNow) noexcept {
  DoaRecord rec;
  rec.block = block;
  rec.azimuth = static_cast<float>(r.azimuth);
  rec.elevation = static_cast<float>(r.elevation);
  rec.confidence = static_cast<float>(r.confidence);
  rec.valid = r.valid ? 1 : 0;
  doaRing_.push(rec);
  if (!r.valid || r.confidence < cfg_.doaMinConfidence) return;
  // Smooth as a direction vector, not as angles, so 359 deg -> 1 deg does not swing through 180.
  const dsp::Vec3 d = dsp::directionVector(r.azimuth, r.elevation);
  const double a = doaSeen_ ? cfg_.doaSmoothing : 1.0;
  doaSeen_ = true;
  doaX_ += a * (d.x - doaX_);
  doaY_ += a * (d.y - doaY_);
  doaZ_ += a * (d.z - doaZ_);
  const double len = std::sqrt(doaX_ * doaX_ + doaY_ * doaY_ + doaZ_ * doaZ_);
  if (len < 1e-9) return;
  double az = std::atan2(doaY_, doaX_) * 180.0 / kPi;
  if (az < 0) az += 360.0;
  const double el = std::asin(std::clamp(doaZ_ / len, -1.0, 1.0)) * 180.0 / kPi;
  if (steerNow) {
    steerAuto(az, el);
  } else {
    SteerRecord s;
    s.azDeg = az;
    s.elDeg = el;
    s.block = block;
    steerRing_->push(s);
  }
}

void Engine::steerAuto(double azDeg, double elDeg) noexcept {
  // Auto beams move only once the smoothed direction is more than half a degree from where they
  // point: far inside any beam's main lobe, yet it keeps DOA jitter (hundredths of a degree per
  // estimate) from holding every auto beam in a permanent steering glide, which recomputes
  // fractional-delay taps (or MVDR weights) every few samples on the audio thread.
  constexpr double kDeadbandRad = 0.5 * kPi / 180.0;
  constexpr double kSteerDeadbandCos = 1 - kDeadbandRad * kDeadbandRad / 2 + kDeadbandRad * kDeadbandRad * kDeadbandRad * kDeadbandRad / 24;
  const dsp::Vec3 to = dsp::directionVector(azDeg, elDeg);
  for (auto& beam : beams_) {
    if (!beam->autoSteer) continue;
    if (dsp::dot(dsp::directionVector(beam->az, beam->el), to) > kSteerDeadbandCos) continue;
    beam->az = azDeg;
    beam->el = elDeg;
    beam->das->steer(azDeg, elDeg);
    beam->mvdr->steer(azDeg, elDeg);
  }
}

void Engine::runChain(int frames) noexcept {
  // Per-input trim, smoothed per sample.
  for (int ch = 0; ch < cfg_.inputs; ch++) {
    const float* x = inPtr_[ch];
    float* y = trimPtr_[ch];
    double g = trimGain_[ch];
    const double target = trimTarget_[ch];
    if (g == target) {
      const float gf = static_cast<float>(g);
      for (int i = 0; i < frames; i++) y[i] = x[i] * gf;
    } else {
      for (int i = 0; i < frames; i++) {
        g += gainCoeff_ * (target - g);
        y[i] = static_cast<float>(x[i] * g);
      }
      if (std::fabs(g - target) < 1e-7) g = target;
      trimGain_[ch] = g;
    }
  }

  if (mics_ > 0) {
    if (doa_) runDoa(frames);
    for (size_t b = 0; b < beams_.size(); b++) {
      Beam& beam = *beams_[b];
      float* y = beamOut_[b].data();
      beam.active->process(micPtr_.data(), y, frames);
      if (beam.fadingOut) {
        beam.fadingOut->process(micPtr_.data(), scratch_.data(), frames);
        for (int i = 0; i < frames; i++) {
          float w = 0.0f;
          if (beam.holdSamples > 0) {
            beam.holdSamples--;
          } else {
            beam.fadePos = std::min(beam.fadePos + 1, beamFadeSamples_);
            w = static_cast<float>(beam.fadePos) / beamFadeSamples_;
          }
          y[i] = w * y[i] + (1.0f - w) * scratch_[i];
        }
        if (beam.holdSamples == 0 && beam.fadePos >= beamFadeSamples_) beam.fadingOut = nullptr;
      }
    }
  }

  const int nBeams = static_cast<int>(beams_.size());
  for (int k = 0; k < cfg_.outputs; k++) {
    // Output k takes beam k; outputs past the beams take beam 0; with no array, the line input
    // named by the dry map goes through the same EQ and dynamics.
    const float* src = nBeams > 0 ? beamOut_[k < nBeams ? k : 0].data() : trimPtr_[cfg_.dryMap[k]];
    float* y = proc_[k].data();
    std::memcpy(y, src, sizeof(float) * frames);
    eq_[k]->process(y, frames);
    notch_[k]->process(y, frames);
    shift_[k]->process(y, frames);
    comp_[k]->process(y, frames);
    gr_[k] = comp_[k]->gainReductionDb();
    double g = outGain_[k];
    const double target = outTarget_[k];
    if (g == target) {
      const float gf = static_cast<float>(g);
      for (int i = 0; i < frames; i++) y[i] *= gf;
    } else {
      for (int i = 0; i < frames; i++) {
        g += gainCoeff_ * (target - g);
        y[i] = static_cast<float>(y[i] * g);
      }
      if (std::fabs(g - target) < 1e-7) g = target;
      outGain_[k] = g;
    }
  }

  // Rehearsal hook: a NaN leaves the chain on output 0.
  if (nanBlocks_.load(std::memory_order_relaxed) > 0) {
    proc_[0][frames / 2] = std::nanf("");
    nanBlocks_.fetch_sub(1, std::memory_order_acq_rel);
  }

  // Test hook: make the chain late on purpose.
  if (spinBlocks_.load(std::memory_order_acquire) > 0) {
    rt::spinFor(spinNs_.load(std::memory_order_relaxed));
    spinBlocks_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

uint32_t Engine::checkProcessed(int frames) const noexcept {
  // One compare per sample catches NaN (every comparison with it is false), infinities and
  // runaways; the cause is sorted out only when something is wrong.
  const float lim = runawayLimit_;
  for (int k = 0; k < cfg_.outputs; k++) {
    const float* y = proc_[k].data();
    bool ok = true;
    for (int i = 0; i < frames; i++) ok &= std::fabs(y[i]) <= lim;
    if (ok) continue;
    for (int i = 0; i < frames; i++) {
      if (!std::isfinite(y[i])) return kCauseNonFinite;
    }
    return kCauseRunaway;
  }
  return kCauseNone;
}

void Engine::resetChain() noexcept {
  // Filter and detector state may hold the NaN that tripped the bypass; start them clean.
  for (auto& e : eq_) e->reset();
  for (auto& e : notch_) e->reset();
  for (auto& e : shift_) e->reset();
  for (auto& c : comp_) c->reset();
  for (auto& b : beams_) {
    b->das->resetStream();
    b->mvdr->resetStream();
  }
  for (int ch = 0; ch < cfg_.inputs; ch++) {
    if (!std::isfinite(trimGain_[ch])) trimGain_[ch] = trimTarget_[ch];
  }
  for (int k = 0; k < cfg_.outputs; k++) {
    if (!std::isfinite(outGain_[k])) outGain_[k] = outTarget_[k];
  }
}

void Engine::crossfade(int frames, bool target) noexcept {
  const double goal = target ? 1.0 : 0.0;
  if (mix_ == goal) {
    // Settled: the output is exactly one path. Dry is a bit-exact copy of the mapped input.
    for (int k = 0; k < cfg_.outputs; k++) {
      const float* src = target ? proc_[k].data() : inPtr_[cfg_.dryMap[k]];
      std::memcpy(outPtr_[k], src, sizeof(float) * frames);
    }
    return;
  }
  // Equal-gain (linear) fade: the two paths are mostly correlated (same source), so gains that
  // sum to one keep the level steady through the fade.
  const double start = mix_;
  for (int k = 0; k < cfg_.outputs; k++) {
    const float* p = proc_[k].data();
    const float* d = inPtr_[cfg_.dryMap[k]];
    float* y = outPtr_[k];
    double m = start;
    for (int i = 0; i < frames; i++) {
      m = goal > m ? std::min(goal, m + mixStep_) : std::max(goal, m - mixStep_);
      y[i] = static_cast<float>(d[i] + m * (p[i] - d[i]));
    }
    mix_ = m;
  }
}

void Engine::meterInputs(int frames) noexcept {
  for (int ch = 0; ch < cfg_.inputs; ch++) {
    const float* x = inPtr_[ch];
    float peak = meterAcc_.inPeak[ch];
    double sq = 0;
    for (int i = 0; i < frames; i++) {
      const float a = std::fabs(x[i]);
      peak = a > peak ? a : peak;
      sq += static_cast<double>(x[i]) * x[i];
    }
    meterAcc_.inPeak[ch] = peak;
    inSq_[ch] += sq;
  }
}

void Engine::meterOutputs(int frames) noexcept {
  for (int k = 0; k < cfg_.outputs; k++) {
    const float* y = outPtr_[k];
    float peak = meterAcc_.outPeak[k];
    double sq = 0;
    for (int i = 0; i < frames; i++) {
      const float a = std::fabs(y[i]);
      peak = a > peak ? a : peak;
      sq += static_cast<double>(y[i]) * y[i];
    }
    meterAcc_.outPeak[k] = peak;
    outSq_[k] += sq;
    meterAcc_.gainReductionDb[k] = std::max(meterAcc_.gainReductionDb[k], gr_[k]);
  }
  if (++meterBlocks_ >= meterWindowBlocks_) publishMeters();
}

void Engine::publishMeters() noexcept {
  const double n = static_cast<double>(meterBlocks_) * bs_;
  meterAcc_.block = blocks_.load(std::memory_order_relaxed) + 1;
  for (int ch = 0; ch < cfg_.inputs; ch++) meterAcc_.inRms[ch] = static_cast<float>(std::sqrt(inSq_[ch] / n));
  for (int k = 0; k < cfg_.outputs; k++) meterAcc_.outRms[k] = static_cast<float>(std::sqrt(outSq_[k] / n));
  meterRing_.push(meterAcc_);
  meterBlocks_ = 0;
  for (int ch = 0; ch < cfg_.inputs; ch++) {
    meterAcc_.inPeak[ch] = 0;
    inSq_[ch] = 0;
  }
  for (int k = 0; k < cfg_.outputs; k++) {
    meterAcc_.outPeak[k] = 0;
    meterAcc_.gainReductionDb[k] = 0;
    outSq_[k] = 0;
  }
}

void Engine::recordBlockTime(int64_t ns) noexcept {
  lastBlockNs_.store(ns, std::memory_order_relaxed);
  if (ns > maxBlockNs_.load(std::memory_order_relaxed)) maxBlockNs_.store(ns, std::memory_order_relaxed);
  totalBlockNs_.store(totalBlockNs_.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
  int64_t bin = ns / 1000;
  if (bin >= kHistBins) bin = kHistBins - 1;
  if (bin < 0) bin = 0;
  hist_[bin].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace engine
