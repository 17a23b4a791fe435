#include "rt.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

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

void markAudioThread(bool on) noexcept { tlsAudioThread = on; }
bool onAudioThread() noexcept { return tlsAudioThread; }

void spinFor(int64_t ns) noexcept {
  const int64_t until = nowNs() + ns;
  while (nowNs() < until) {
  }
}

}  // namespace rt
