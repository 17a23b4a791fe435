// Small helpers for the real-time audio thread: the monotonic clock, priority, and the flag that
// marks "this is an audio thread" (read by the allocation-counting test build).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

namespace rt {

// CLOCK_MONOTONIC in nanoseconds. clock_gettime is served by the vDSO on Linux: no syscall.
int64_t nowNs() noexcept;

// Asks for SCHED_FIFO at `priority` for the calling thread; false (and the thread unchanged)
// when the OS refuses, which is normal for an unprivileged process.
bool tryRealtimePriority(int priority) noexcept;

// Set by the engine's audio thread on itself. A test build interposes malloc/new and counts
// calls made while this is true; in the addon it costs one thread_local store.
void markAudioThread(bool on) noexcept;
bool onAudioThread() noexcept;

// mlock one region; returns the bytes locked (0 when the OS refuses: without CAP_IPC_LOCK and
// past RLIMIT_MEMLOCK). The engine locks its own buffers this way, not the process with
// mlockall: V8 (Node 24) aborts when it frees pages of a locked heap ("Check failed" in
// BoundedPageAllocator::FreePages, docs/watchdog.md).
size_t lockRegion(const void* p, size_t bytes) noexcept;

// Touches `bytes` of the calling thread's stack so it is resident before the first block.
void prefaultStack(size_t bytes) noexcept;

// Busy-waits (no sleep, no syscall beyond the vDSO clock) for a test hook.
void spinFor(int64_t ns) noexcept;

// The clock of a backend with no device to block on (sim, AES67): wait() sleeps until the next
// block's deadline on the monotonic clock. A deadline missed by more than two periods counts as
// an xrun (a real device would have dropped samples) and the schedule restarts from now rather
// than racing to catch up. wait() is called by the audio thread only; xruns() by any thread.
class BlockPacer {
 public:
  void setPeriod(int64_t ns) noexcept { periodNs_ = ns; }
  void wait() noexcept;
  uint64_t xruns() const noexcept { return late_.load(std::memory_order_relaxed); }

 private:
  int64_t periodNs_ = 0;
  int64_t nextNs_ = 0;
  std::atomic<uint64_t> late_{0};
};

}  // namespace rt
