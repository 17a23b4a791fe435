// The sentinel thread; see sentinel.h for what it watches and why.
#include "sentinel.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "engine.h"
#include "rt.h"

namespace engine {

namespace {

constexpr int64_t kMs = 1000000;
// How often the sentinel looks: the stall check's resolution. 1 ms keeps "stall -> RELAY OFF"
// within audioStallMs + 1 ms when the thread is scheduled on time.
constexpr int64_t kLookNs = 1 * kMs;
// A panel tty that cannot be opened (unplugged USB-serial) is tried again this often.
constexpr int64_t kReopenNs = 250 * kMs;

// Unsigned decimal into buf, returns the length (no printf: it may allocate).
int putUint(char* buf, uint32_t v) noexcept {
  char tmp[12];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0 && n < 11);
  for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  return n;
}

void sleepUntil(int64_t ns) noexcept {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1000000000LL);
  ts.tv_nsec = static_cast<long>(ns % 1000000000LL);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace

int frameLine(const char* payload, char* buf, int size) noexcept {
  const int n = static_cast<int>(std::strlen(payload));
  if (n + 4 > size) return 0;
  unsigned x = 0;
  for (int i = 0; i < n; i++) {
    buf[i] = payload[i];
    x ^= static_cast<unsigned char>(payload[i]);
  }
  static const char hex[] = "0123456789ABCDEF";
  buf[n] = '*';
  buf[n + 1] = hex[(x >> 4) & 0xf];
  buf[n + 2] = hex[x & 0xf];
  buf[n + 3] = '\n';
  return n + 4;
}

Sentinel::Sentinel(const Engine& engine, const SentinelConfig& config) : engine_(engine), cfg_(config) {}

Sentinel::~Sentinel() { stop(); }

bool Sentinel::start(std::string* error) {
  if (running_.load()) return true;
  tryOpen(rt::nowNs());
  if (!cfg_.panelPath.empty() && panelFd_ < 0) {
    if (error) *error = std::string("cannot open the front-panel tty ") + cfg_.panelPath + ": " + std::strerror(errno);
    return false;
  }
  stop_.store(false);
  running_.store(true, std::memory_order_release);
  try {
    thread_ = std::thread([this] { threadMain(); });
  } catch (const std::exception& e) {
    running_.store(false);
    if (error) *error = std::string("could not start the sentinel thread: ") + e.what();
    return false;
  }
  return true;
}

void Sentinel::stop() noexcept {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  running_.store(false, std::memory_order_release);
  if (panelFd_ >= 0) {
    ::close(panelFd_);
    panelFd_ = -1;
    panelOpen_.store(false, std::memory_order_relaxed);
  }
  if (cfg_.watchdogFd >= 0) {
    // A clean stop disarms the device ("magic close"); a crash never gets here, so the device bites.
    (void)!::write(cfg_.watchdogFd, "V", 1);
    ::close(cfg_.watchdogFd);
    cfg_.watchdogFd = -1;
  }
}

void Sentinel::tryOpen(int64_t now) noexcept {
  if (cfg_.panelPath.empty() || panelFd_ >= 0 || now < nextOpenNs_) return;
  nextOpenNs_ = now + kReopenNs;
  const int fd = ::open(cfg_.panelPath.c_str(), O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  panelFd_ = fd;
  panelOpen_.store(true, std::memory_order_relaxed);
  reopens_.fetch_add(1, std::memory_order_relaxed);
}

bool Sentinel::writeLine(const char* payload) noexcept {
  if (panelFd_ < 0) return false;
  char buf[96];
  const int n = frameLine(payload, buf, sizeof buf);
  // One write() per line: the tty takes it whole or not at all (EAGAIN when its buffer is full,
  // i.e. nobody reads the other end; the line is dropped, never half-sent).
  const ssize_t w = ::write(panelFd_, buf, static_cast<size_t>(n));
  if (w == n) return true;
  writeErrors_.fetch_add(1, std::memory_order_relaxed);
  if (w < 0 && errno != EAGAIN && errno != EINTR) {
    // The tty went away (EIO, EBADF): close it and try to reopen it every 250 ms.
    ::close(panelFd_);
    panelFd_ = -1;
    panelOpen_.store(false, std::memory_order_relaxed);
  }
  return false;
}

void Sentinel::threadMain() noexcept {
  rt::markAudioThread(true);
  // Above the audio thread (70): the sentinel's work is a few syscalls every millisecond, and it
  // must run when the audio thread is the one spinning.
  if (cfg_.realtimePriority) realtime_.store(rt::tryRealtimePriority(80), std::memory_order_relaxed);
  rt::prefaultStack(32 * 1024);
  const int64_t hbNs = static_cast<int64_t>(cfg_.heartbeatMs * kMs);
  const int64_t stallNs = static_cast<int64_t>(cfg_.audioStallMs * kMs);
  const int64_t holdNs = static_cast<int64_t>(cfg_.holdAfterMs * kMs);
  const int64_t cpNs = static_cast<int64_t>(cfg_.controlPlaneTimeoutMs * kMs);
  const int64_t wdNs = static_cast<int64_t>(cfg_.watchdogFeedMs * kMs);
  int64_t now = rt::nowNs();
  uint64_t lastBlocks = engine_.blockCounter();
  int64_t lastProgress = now;
  int64_t lastHb = 0, lastFeed = 0;
  int64_t prevHbAt = 0;
  double gapSum = 0;
  uint64_t gapCount = 0;
  // From zero, not from the counter's value now: a request made between start() and this line
  // (JS asks for the relay right after starting the sentinel) must not be taken as already seen.
  uint32_t seenRelayOn = 0;
  bool stalled = false, held = false, timedOut = false;
  // Armed by the first block seen: an audio thread still opening its device is not stalled (the
  // JS engine-stall monitor covers one that never starts).
  bool armed = false;
  char payload[32];
  while (!stop_.load(std::memory_order_acquire)) {
    now = rt::nowNs();
    tryOpen(now);
    if (resetGaps_.exchange(false, std::memory_order_acq_rel)) {
      gapSum = 0;
      gapCount = 0;
      prevHbAt = 0;
      maxGapMs_.store(0, std::memory_order_relaxed);
      lateGaps_.store(0, std::memory_order_relaxed);
    }

    // The audio thread: is the block counter moving?
    const uint64_t blocks = engine_.blockCounter();
    if (blocks != lastBlocks) {
      lastBlocks = blocks;
      lastProgress = now;
      armed = true;
      if (stalled) {
        stalled = false;
        stalled_.store(false, std::memory_order_release);
      }
    } else if (armed && !stalled && stallNs > 0 && now - lastProgress > stallNs && !engine_.finishedOrStopping()) {
      // Silence on the outputs: the relay carries the analog path from now on. RELAY OFF first,
      // then the heartbeats stop, so a controller that missed the line still drops by timeout.
      stalled = true;
      writeLine("RELAY OFF");
      lastStallMs_.store((now - lastProgress) / 1e6, std::memory_order_relaxed);
      audioStalls_.fetch_add(1, std::memory_order_acq_rel);
      stalled_.store(true, std::memory_order_release);
    }

    // The control plane: how old is its heartbeat?
    const int64_t age = now - engine_.heartbeatNs();
    if (!held && holdNs > 0 && age > holdNs) {
      held = true;
      // DEGRADED on the panel, said natively (JS is not there to say it): STATUS LED amber.
      writeLine("LED STATUS AMBER SOLID");
      lastHoldAgeMs_.store(age / 1e6, std::memory_order_relaxed);
      controlHolds_.fetch_add(1, std::memory_order_acq_rel);
      held_.store(true, std::memory_order_release);
    } else if (held && age <= holdNs) {
      held = false;
      held_.store(false, std::memory_order_release);
    }
    const bool cpDead = cpNs > 0 && age > cpNs;
    if (cpDead && !timedOut) {
      timedOut = true;
      controlTimeouts_.fetch_add(1, std::memory_order_relaxed);
    } else if (!cpDead) {
      timedOut = false;
    }

    const bool healthy = !stalled && !cpDead;
    const bool withhold = withhold_.load(std::memory_order_acquire);
    const uint32_t relayOn = relayOnRequests_.load(std::memory_order_acquire);
    const bool wantRelayOn = relayOn != seenRelayOn;
    if (healthy && !withhold && (now - lastHb >= hbNs || wantRelayOn)) {
      seq_ = (seq_ + 1) & 0xffff;
      std::memcpy(payload, "HB ", 3);
      const int n = putUint(payload + 3, seq_);
      payload[3 + n] = '\0';
      if (writeLine(payload)) {
        heartbeats_.fetch_add(1, std::memory_order_relaxed);
        if (prevHbAt > 0) {
          const double gap = (now - prevHbAt) / 1e6;
          gapSum += gap;
          gapCount++;
          meanGapMs_.store(gapSum / gapCount, std::memory_order_relaxed);
          if (gap > maxGapMs_.load(std::memory_order_relaxed)) maxGapMs_.store(gap, std::memory_order_relaxed);
          if (gap > cfg_.heartbeatMs + 1) lateGaps_.fetch_add(1, std::memory_order_relaxed);
        }
        prevHbAt = now;
      }
      lastHb = now;
    }
    if (wantRelayOn && healthy && !withhold) {
      // Consumed only once the line is out: a full tty (EAGAIN) means try again next look.
      if (writeLine("RELAY ON")) seenRelayOn = relayOn;
    } else if (wantRelayOn && !healthy) {
      seenRelayOn = relayOn;  // refused: JS asks again when the state says so
    }
    if (withhold) prevHbAt = 0;  // a withheld stretch is not jitter

    if (cfg_.watchdogFd >= 0 && healthy && now - lastFeed >= wdNs) {
      lastFeed = now;
      if (::write(cfg_.watchdogFd, "\0", 1) == 1) watchdogFeeds_.fetch_add(1, std::memory_order_relaxed);
    }

    // Next look: on the millisecond grid, never sleeping past the next heartbeat.
    int64_t next = now + kLookNs;
    if (healthy && !withhold && lastHb + hbNs < next) next = lastHb + hbNs;
    sleepUntil(next);
  }
  rt::markAudioThread(false);
}

SentinelStats Sentinel::stats() const noexcept {
  SentinelStats s;
  s.running = running_.load(std::memory_order_acquire);
  s.realtime = realtime_.load(std::memory_order_relaxed);
  s.heartbeats = heartbeats_.load(std::memory_order_relaxed);
  s.writeErrors = writeErrors_.load(std::memory_order_relaxed);
  s.reopens = reopens_.load(std::memory_order_relaxed);
  s.audioStalls = audioStalls_.load(std::memory_order_acquire);
  s.lastStallMs = lastStallMs_.load(std::memory_order_relaxed);
  s.controlHolds = controlHolds_.load(std::memory_order_acquire);
  s.lastHoldAgeMs = lastHoldAgeMs_.load(std::memory_order_relaxed);
  s.controlTimeouts = controlTimeouts_.load(std::memory_order_relaxed);
  s.stalled = stalled_.load(std::memory_order_acquire);
  s.held = held_.load(std::memory_order_acquire);
  s.withhold = withhold_.load(std::memory_order_acquire);
  s.panelOpen = panelOpen_.load(std::memory_order_relaxed);
  s.watchdogFeeds = watchdogFeeds_.load(std::memory_order_relaxed);
  s.maxGapMs = maxGapMs_.load(std::memory_order_relaxed);
  s.meanGapMs = meanGapMs_.load(std::memory_order_relaxed);
  s.lateGaps = lateGaps_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace engine
