#include "rt.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include <cerrno>
#include <cstring>

namespace rt {

namespace {
thread_local bool tlsAudioThread = false;
}

int64_t nowNs() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

bool tryRealtimePriority(int priority) noexcept {
  sched_param param{};
  param.sched_priority = priority;
  return pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0;
}

size_t lockRegion(const void* p, size_t bytes) noexcept {
  if (!p || bytes == 0) return 0;
  return ::mlock(p, bytes) == 0 ? bytes : 0;
}

void prefaultStack(size_t bytes) noexcept {
  // Touch the pages the thread's stack will use, so the first deep call does not page-fault.
  volatile char* probe = static_cast<volatile char*>(__builtin_alloca(bytes));
  for (size_t i = 0; i < bytes; i += 4096) probe[i] = 0;
}

void markAudioThread(bool on) noexcept { tlsAudioThread = on; }
bool onAudioThread() noexcept { return tlsAudioThread; }

void spinFor(int64_t ns) noexcept {
  const int64_t until = nowNs() + ns;
  while (nowNs() < until) {
  }
}

void BlockPacer::wait() noexcept {
  const int64_t now = nowNs();
  if (nextNs_ == 0) nextNs_ = now;
  nextNs_ += periodNs_;
  if (now > nextNs_ + 2 * periodNs_) {
    late_.fetch_add(1, std::memory_order_relaxed);
    nextNs_ = now;
    return;
  }
  timespec ts;
  ts.tv_sec = static_cast<time_t>(nextNs_ / 1000000000LL);
  ts.tv_nsec = static_cast<long>(nextNs_ % 1000000000LL);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace rt
