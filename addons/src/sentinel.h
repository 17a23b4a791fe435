// The sentinel: a small native thread beside the audio thread that keeps the hardware layer of
// fail-open honest without JavaScript. Every few milliseconds it
//   - watches the audio thread's progress (the block counter): no new block for audioStallMs and
//     it writes RELAY OFF to the front-panel controller at once and stops the heartbeats;
//   - watches the control plane's heartbeat (an atomic timestamp written by the JS tick) with its
//     own, longer budgets: older than holdAfterMs and it shows DEGRADED on the STATUS LED itself
//     (the parameters are held; the sound does not change); older than controlPlaneTimeoutMs and
//     it stops the panel heartbeats (the controller drops the relay);
//   - writes the controller's heartbeat line ("HB n*CC") every heartbeatMs while nothing above is
//     wrong and JS has not asked to withhold it (BYPASS);
//   - feeds the hardware watchdog device (a file descriptor handed over by JS), on the same
//     conditions.
// It opens the panel's tty a second time, O_WRONLY|O_NOCTTY|O_NONBLOCK, and writes each line with
// one write() call, so its lines and the lines JS writes through its own descriptor never
// interleave. It never calls into JS, never allocates and never locks once started (the
// allocation-counting build marks it like the audio thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace engine {

class Engine;

struct SentinelConfig {
  // The front-panel controller's tty ("" = no panel: only the stall and watchdog duties).
  std::string panelPath;
  // Heartbeat line to the controller every this many ms.
  double heartbeatMs = 5;
  // No new audio block for this long = the audio thread is stalled.
  double audioStallMs = 20;
  // Control-plane heartbeat older than this: DEGRADED on the LED (native), parameters held.
  double holdAfterMs = 100;
  // Control-plane heartbeat older than this: panel heartbeats stop (relay drops). 0 = never.
  double controlPlaneTimeoutMs = 5000;
  // Hardware watchdog: an open descriptor (the sentinel owns it from now on), -1 = none.
  int watchdogFd = -1;
  double watchdogFeedMs = 1000;
  bool realtimePriority = true;
};

struct SentinelStats {
  bool running = false, realtime = false;
  uint64_t heartbeats = 0, writeErrors = 0, reopens = 0;
  uint64_t audioStalls = 0;     // audio-stall episodes seen (RELAY OFF sent each time)
  double lastStallMs = 0;       // how long the counter had stood still when the last one was declared
  uint64_t controlHolds = 0;    // control-plane-late episodes (LED DEGRADED sent each time)
  double lastHoldAgeMs = 0;     // heartbeat age when the last one was declared
  uint64_t controlTimeouts = 0; // control plane past controlPlaneTimeoutMs (heartbeats stopped)
  bool stalled = false, held = false, withhold = false, panelOpen = false;
  uint64_t watchdogFeeds = 0;
  // Heartbeat period as written: max gap and a histogram-free jitter summary (ms).
  double maxGapMs = 0, meanGapMs = 0;
  // Gaps over heartbeatMs + 1 ms.
  uint64_t lateGaps = 0;
};

class Sentinel {
 public:
  Sentinel(const Engine& engine, const SentinelConfig& config);
  ~Sentinel();
  Sentinel(const Sentinel&) = delete;
  Sentinel& operator=(const Sentinel&) = delete;

  bool start(std::string* error);
  void stop() noexcept;

  // JS (any thread): stop/resume the panel heartbeat (watchdog state BYPASS / MANUAL etc.).
  void setWithhold(bool on) noexcept { withhold_.store(on, std::memory_order_release); }
  // JS: energise the relay. The sentinel sends a heartbeat and RELAY ON back to back (the
  // controller energises only on a fresh heartbeat), if nothing is wrong.
  void requestRelayOn() noexcept { relayOnRequests_.fetch_add(1, std::memory_order_acq_rel); }
  // Resets the gap statistics (benchmarks).
  void resetGapStats() noexcept { resetGaps_.store(true, std::memory_order_release); }
  SentinelStats stats() const noexcept;

 private:
  void threadMain() noexcept;
  bool writeLine(const char* payload) noexcept;
  void tryOpen(int64_t now) noexcept;

  const Engine& engine_;
  SentinelConfig cfg_;
  int panelFd_ = -1;
  int64_t nextOpenNs_ = 0;
  uint32_t seq_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<bool> realtime_{false};
  std::atomic<bool> withhold_{false};
  std::atomic<uint32_t> relayOnRequests_{0};
  std::atomic<bool> resetGaps_{false};
  std::atomic<uint64_t> heartbeats_{0}, writeErrors_{0}, reopens_{0}, audioStalls_{0}, controlHolds_{0}, controlTimeouts_{0}, watchdogFeeds_{0}, lateGaps_{0};
  std::atomic<double> lastStallMs_{0}, lastHoldAgeMs_{0}, maxGapMs_{0}, meanGapMs_{0};
  std::atomic<bool> stalled_{false}, held_{false}, panelOpen_{false};
};

// Appends the protocol frame ("*CC\n", CC = XOR of the payload bytes) to payload in buf (no
// allocation). Returns the length, 0 if it does not fit.
int frameLine(const char* payload, char* buf, int size) noexcept;

}  // namespace engine
