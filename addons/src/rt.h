// Small helpers for the real-time audio thread: the monotonic clock, priority, and the flag that
// marks "this is an audio thread" (read by the allocation-counting test build).
#pragma once

#include <cstdint>
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

// Busy-waits (no sleep, no syscall beyond the vDSO clock) for a test hook.
void spinFor(int64_t ns) noexcept;

}  // namespace rt
