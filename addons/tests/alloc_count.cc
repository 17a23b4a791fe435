// Allocation-counting build of the engine core: proves the audio thread allocates nothing and
// takes no lock.
//
// malloc/calloc/realloc/free/aligned_alloc/posix_memalign/memalign and every operator new and
// delete are interposed; a call counts when rt::onAudioThread() is true, which the engine sets
// on its own thread before the first block. The program runs the full chain (4 beams, both
// beamformer kinds and switches between them, DOA with an auto-steered beam, EQ, compressor,
// gains, processed/dry crossfades, the fail-open paths and the spin hook) for a few thousand
// blocks while a control thread fires commands at it, then prints one JSON line.
//
// pthread mutex/rwlock/condvar/semaphore waits are interposed the same way and counted.
//
// Built from source with -DENGINE_TSAN -fsanitize=thread instead (all of addons/src except the
// bindings), the same run checks the audio, DOA and control threads for data races; with
// -DENGINE_TSAN alone it runs under valgrind --leak-check=full. Both are clean, and both are too
// slow to compile for the suite on a small machine, so they are run by hand.
//
// The aes67 mode runs the network backend: two receive streams, one input's primary and failover
// sources, fed by a sender thread here over loopback (1 ms and 0.125 ms packets, with gaps,
// swaps, malformed datagrams and a stall that empties the jitter buffers) and a transmit stream, so the audio thread's ring reads, prefills,
// underruns and overflow drops are all counted.
//
// usage: alloc_count sim|file|aes67 [WORKDIR [BLOCKS]]     (exit 0 when the audio threads made no allocation
// and took no lock)
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>

#include <atomic>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "backends/backend.h"
#include "engine.h"
#include "net/rtp.h"
#include "rt.h"
#include "wav.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void __libc_free(void*);
void* __libc_memalign(size_t, size_t);
}

namespace {
std::atomic<uint64_t> gAudioAllocs{0};
std::atomic<uint64_t> gAudioFrees{0};
std::atomic<uint64_t> gAllAllocs{0};
std::atomic<uint64_t> gAudioLocks{0};

inline void countLock() {
  if (rt::onAudioThread()) gAudioLocks.fetch_add(1, std::memory_order_relaxed);
}

template <typename Fn>
Fn next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

inline void countAlloc() {
  gAllAllocs.fetch_add(1, std::memory_order_relaxed);
  if (rt::onAudioThread()) gAudioAllocs.fetch_add(1, std::memory_order_relaxed);
}
inline void countFree(void* p) {
  if (p && rt::onAudioThread()) gAudioFrees.fetch_add(1, std::memory_order_relaxed);
}
// The control side of a remove (backend.h): off the air, then asked every millisecond until done.
bool removeStream(engine::Backend* b, bool tx, int slot, std::string* error) {
  if (!b->beginRemove(tx, slot, error)) return false;
  for (;;) {
    const int r = b->finishRemove(tx, slot, error);
    if (r != 0) return r > 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Streams added and removed while the audio thread runs (docs/aes67.md, "Streams at run time"):
// a receive stream on inputs 5-6 fed a few packets, a third source of inputs 1-4, and a transmit
// stream of outputs 3-4, each added and removed again and again. Returns the cycles done.
int churnStreams(engine::Backend* b, std::atomic<bool>& done) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  uint8_t pkt[net::kRtpHeader + 48 * 2 * 3] = {};
  int cycles = 0;
  uint16_t seq = 1;
  while (!done.load()) {
    std::string error;
    engine::Aes67Stream rx;
    rx.port = 0;
    rx.channels = 2;
    rx.firstChannel = 4;
    rx.linkOffsetUs = 1000;
    engine::Aes67Stream backup;
    backup.port = 0;
    backup.channels = 4;
    backup.priority = 3;
    backup.linkOffsetUs = 1000;
    engine::Aes67Stream tx;
    tx.address = "127.0.0.1";
    tx.port = 9;
    tx.channels = 2;
    tx.firstChannel = 2;
    tx.ssrc = 78;
    const int r = b->addStream(false, rx, &error);
    const int k = b->addStream(false, backup, &error);
    const int t = b->addStream(true, tx, &error);
    if (r < 0 || k < 0 || t < 0) {
      std::fprintf(stderr, "addStream: %s\n", error.c_str());
      break;
    }
    engine::NetStreamStats st[8];
    const int n = b->netStats(st, 8);
    int port = 0;
    for (int i = 0; i < n; i++)
      if (!st[i].tx && st[i].slot == r) port = st[i].localPort;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(static_cast<uint16_t>(port));
    for (int i = 0; i < 60 && !done.load(); i++) {
      net::writeRtpHeader(pkt, 96, seq, static_cast<uint32_t>(seq) * 48, 0xbee);
      seq++;
      ::sendto(fd, pkt, sizeof(pkt), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!removeStream(b, false, r, &error) || !removeStream(b, false, k, &error) || !removeStream(b, true, t, &error)) {
      std::fprintf(stderr, "removeStream: %s\n", error.c_str());
      break;
    }
    cycles++;
  }
  ::close(fd);
  return cycles;
}

}  // namespace

#ifndef ENGINE_TSAN  // under ThreadSanitizer the sanitizer owns malloc and the lock calls
extern "C" {
void* malloc(size_t n) {
  countAlloc();
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  countAlloc();
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  countAlloc();
  return __libc_realloc(p, n);
}
void free(void* p) {
  countFree(p);
  __libc_free(p);
}
void* aligned_alloc(size_t align, size_t n) {
  countAlloc();
  return __libc_memalign(align, n);
}
void* memalign(size_t align, size_t n) {
  countAlloc();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  countAlloc();
  void* p = __libc_memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
}

// Waiting on a lock from the audio thread is as bad as allocating: count every way to do it.
extern "C" {
int pthread_mutex_lock(pthread_mutex_t* m) {
  countLock();
  static auto real = next<int (*)(pthread_mutex_t*)>("pthread_mutex_lock");
  return real(m);
}
int pthread_mutex_trylock(pthread_mutex_t* m) {
  countLock();
  static auto real = next<int (*)(pthread_mutex_t*)>("pthread_mutex_trylock");
  return real(m);
}
int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  countLock();
  static auto real = next<int (*)(pthread_cond_t*, pthread_mutex_t*)>("pthread_cond_wait");
  return real(c, m);
}
int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
  countLock();
  static auto real = next<int (*)(pthread_rwlock_t*)>("pthread_rwlock_rdlock");
  return real(l);
}
int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
  countLock();
  static auto real = next<int (*)(pthread_rwlock_t*)>("pthread_rwlock_wrlock");
  return real(l);
}
int sem_wait(sem_t* sem) {
  countLock();
  static auto real = next<int (*)(sem_t*)>("sem_wait");
  return real(sem);
}
}

void* operator new(size_t n) {
  void* p = malloc(n);
  if (!p) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return malloc(n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return malloc(n); }
void* operator new(size_t n, std::align_val_t a) {
  void* p = aligned_alloc(static_cast<size_t>(a), (n + static_cast<size_t>(a) - 1) / static_cast<size_t>(a) * static_cast<size_t>(a));
  if (!p) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }
void operator delete[](void* p, size_t) noexcept { free(p); }
void operator delete(void* p, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { free(p); }

#endif  // ENGINE_TSAN

namespace {

engine::EngineConfig baseConfig() {
  engine::EngineConfig c;
  c.sampleRate = 48000;
  c.blockSize = 64;
  c.inputs = 8;
  c.outputs = 4;
  c.dryMap = {0, 1, 2, 3};
  const double r = 0.05;
  for (int m = 0; m < 8; m++) {
    const double a = m * 3.14159265358979 / 4;
    c.mics.push_back({r * std::cos(a), r * std::sin(a), 0});
  }
  c.beams = {{"das", 0, 0, true}, {"mvdr", 90, 0, false}, {"das", 180, 0, false}, {"mvdr", 270, 0, false}};
  c.simSources = {{60, 0, 2, 220, -20}, {200, 0, 0, 1000, -30}};
  c.simNoiseDb = -50;
  c.simPaced = false;
  // The sim board's feedback loop (dsp/room_path.h): output 1 back into every capsule through the
  // club room, 3 dB over its edge so it howls and the room's taps run at full level.
  c.simLoop.enabled = true;
  c.simLoop.output = 0;
  c.simLoop.inputs = {0, 1, 2, 3, 4, 5, 6, 7};
  c.simLoop.gainDb = 3;
  c.simLoop.room.size[0] = 12, c.simLoop.room.size[1] = 9, c.simLoop.room.size[2] = 4;
  c.simLoop.room.absorption = 0.35;
  c.simLoop.room.speaker[0] = 2, c.simLoop.room.speaker[1] = 4.5, c.simLoop.room.speaker[2] = 2.5;
  c.simLoop.room.mic[0] = 6, c.simLoop.room.mic[1] = 4.2, c.simLoop.room.mic[2] = 1.6;
  c.realtimePriority = false;
  c.heartbeatTimeoutMs = 100;
  c.overrunBlocks = 4;
  return c;
}

// The control thread: every kind of command, crossfades both ways, the heartbeat, the spin hook.
std::atomic<uint64_t> gPeakFrames{0};

void drive(engine::Engine& e, std::atomic<bool>& done) {
  int i = 0;
  while (!done.load()) {
    e.heartbeat();
    engine::Command c;
    switch (i % 9) {
      case 0: c.id = engine::kCmdSetInputTrim; c.target = i % 8; c.v[0] = (i % 7) - 3; break;
      case 1: c.id = engine::kCmdSetOutputGain; c.target = i % 4; c.v[0] = -(i % 12); break;
      case 2:
        if (i % 4 == 3) {  // the feedback frequency shifter on, gliding, and back to bypass
          c.id = engine::kCmdSetShift; c.target = i % 4; c.v[0] = (i / 36) % 3 == 0 ? 0 : 2.5 * ((i / 36) % 3) + (i % 5);
          break;
        }
        if (i % 2) {  // feedback notches in and out, as the suppressor places and releases them
          c.id = engine::kCmdSetNotch; c.target = i % 4; c.index = i % 8; c.v[0] = 500 + 37 * (i % 50); c.v[1] = -3 * (1 + i % 6); c.v[2] = 40; c.v[3] = (i / 18) % 2;
          break;
        }
        c.id = engine::kCmdSetEqBand; c.target = i % 4; c.index = i % 8; c.v[0] = i % 5; c.v[1] = 200 + 50 * (i % 40); c.v[2] = (i % 13) - 6; c.v[3] = 0.7 + (i % 3); c.v[4] = 1; break;
      case 3: c.id = engine::kCmdSetCompressor; c.target = i % 4; c.v[0] = -30 + (i % 20); c.v[1] = 2 + (i % 6); c.v[2] = 6; c.v[3] = 5; c.v[4] = 100; c.v[5] = 3; c.v[6] = 1; break;
      case 4: c.id = engine::kCmdSteerBeam; c.target = 1 + i % 3; c.v[0] = (i * 37) % 360; c.v[1] = (i % 3) * 10; break;
      case 5: c.id = engine::kCmdSetBeamformer; c.target = i % 4; c.index = (i / 9) % 2; break;
      case 6: c.id = engine::kCmdSetBeamAuto; c.target = 0; c.v[0] = (i / 9) % 2 ? 0 : 1; break;
      case 7: e.setProcessing((i / 9) % 2 == 0); break;
      case 8:
        if (i % 45 == 8) e.injectDspSpin(2000, 5);
        if (i % 90 == 17) e.injectNonFinite(2);
        if (i % 400 == 44) e.injectAudioStall(30);
        if (e.sentinel()) {
          e.sentinel()->setWithhold(i % 200 < 20);
          if (i % 50 == 8) e.sentinel()->requestRelayOn();
        }
        break;
    }
    if (c.id != 0) e.pushCommand(c);
    engine::Event ev;
    while (e.popEvent(&ev)) {
    }
    engine::DoaRecord d;
    while (e.popDoa(&d)) {
    }
    engine::MeterRecord m;
    while (e.popMeters(&m)) {
    }
    // Live candidates (issue 17): tracking mostly on, switched off and on again now and then.
    if (i % 300 == 299) e.setTracking((i / 300) % 4 != 2);
    engine::PeakFrame pf;
    while (e.popPeaks(&pf)) gPeakFrames.fetch_add(1);
    i++;
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
}

bool makeInputWav(const std::string& path, int channels, int frames, std::string* error) {
  wav::Info info;
  info.channels = channels;
  info.sampleRate = 48000;
  info.format = wav::Format::Float32;
  auto w = wav::Writer::create(path, info, error);
  if (!w) return false;
  std::vector<float> buf(static_cast<size_t>(channels) * frames);
  uint32_t s = 12345;
  for (int i = 0; i < frames; i++) {
    for (int ch = 0; ch < channels; ch++) {
      s = s * 1664525u + 1013904223u;
      buf[static_cast<size_t>(i) * channels + ch] = 0.3f * std::sin(i * 0.05f + ch * 0.3f) + 0.01f * ((s >> 9) / 8388608.0f - 0.5f);
    }
  }
  if (!w->write(buf.data(), frames)) return false;
  return w->close(error);
}

// Sends L24 packets to the two receive streams in real time until done: every 23rd packet
// skipped, every 31st pair swapped, a malformed datagram every 50th, and a 40 ms stall every
// second (the jitter buffer runs dry and prefills again), then a burst.
void sendRtp(const int ports[2], const int frames[2], int channels, std::atomic<bool>& done) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  uint8_t pkt[net::kRtpHeader + net::kMaxPacketFrames * net::kMaxChannels * 3];
  uint16_t seq[2] = {100, 65000};
  // Stream 0 is stamped with the media clock (CLOCK_REALTIME in samples: it plays by timestamp,
  // the engine is told the clock is locked); stream 1 from 0 (off the media clock: by arrival).
  timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  uint32_t ts[2] = {static_cast<uint32_t>(static_cast<uint64_t>(rt.tv_sec) * 48000 + static_cast<uint64_t>(rt.tv_nsec) * 48 / 1000000), 0};
  const auto t0 = std::chrono::steady_clock::now();
  long long sentUs[2] = {0, 0};
  int n = 0;
  while (!done.load()) {
    const long long now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    const bool stalled = (now / 1000) % 1000 > 960;
    for (int s = 0; s < 2 && !stalled; s++) {
      const long long period = frames[s] * 1000000LL / 48000;
      while (sentUs[s] + period <= now) {
        sentUs[s] += period;
        n++;
        uint16_t q = seq[s]++;
        if (n % 31 == 0) q = static_cast<uint16_t>(q + 1);
        if (n % 31 == 1 && n > 1) q = static_cast<uint16_t>(q - 1);
        net::writeRtpHeader(pkt, 96, q, ts[s], 0xabc0 + s);
        ts[s] += frames[s];
        for (int i = 0; i < frames[s] * channels; i++) net::encodeSample(0.25f * std::sin(0.01f * (ts[s] + i)), pkt + net::kRtpHeader + i * 3, 24);
        to.sin_port = htons(static_cast<uint16_t>(ports[s]));
        const size_t len = net::kRtpHeader + static_cast<size_t>(frames[s] * channels * 3);
        if (n % 23 != 0) ::sendto(fd, pkt, len, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
        if (n % 50 == 0) ::sendto(fd, pkt, 7, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  ::close(fd);
}

}  // namespace

// Proves the counter sees allocations at all: pretend to be the audio thread and allocate.
bool interposerWorks() {
#ifdef ENGINE_TSAN
  return true;
#endif
  const uint64_t before = gAudioAllocs.load();
  rt::markAudioThread(true);
  int* volatile p = new int(7);
  void* volatile q = std::malloc(64);
  rt::markAudioThread(false);
  delete p;
  std::free(q);
  const uint64_t seen = gAudioAllocs.load() - before;
  gAudioAllocs.store(before);
  gAudioFrees.store(0);
  // And lock calls: a std::mutex taken on a marked thread must count.
  const uint64_t locksBefore = gAudioLocks.load();
  pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
  rt::markAudioThread(true);
  pthread_mutex_lock(&mutex);
  rt::markAudioThread(false);
  pthread_mutex_unlock(&mutex);
  const bool locksSeen = gAudioLocks.load() > locksBefore;
  gAudioLocks.store(0);
  return seen >= 2 && locksSeen;
}

int main(int argc, char** argv) {
  const bool counterOk = interposerWorks();
  const std::string mode = argc > 1 ? argv[1] : "sim";
  const std::string dir = argc > 2 ? argv[2] : "/tmp";
  engine::EngineConfig cfg = baseConfig();
  const long long blocks = argc > 3 ? std::atoll(argv[3]) : 4000;
  if (mode == "file") {
    cfg.backend = "file";
    cfg.inPath = dir + "/alloc_in.wav";
    cfg.outPath = dir + "/alloc_out.wav";
    std::string error;
    if (!makeInputWav(cfg.inPath, cfg.inputs, static_cast<int>(blocks * cfg.blockSize), &error)) {
      std::fprintf(stderr, "cannot write the input: %s\n", error.c_str());
      return 2;
    }
  } else if (mode == "aes67") {
    cfg.backend = "aes67";
    cfg.maxBlocks = blocks;
    engine::Aes67Stream a;
    a.port = 0;
    a.channels = 4;
    a.linkOffsetUs = 3000;
    cfg.aes67Rx.push_back(a);
    // The second stream is the first's failover source (same channels, priority 2): the stalls
    // switch the input between them, crossfades included.
    a.priority = 2;
    a.ptimeUs = 125;
    a.linkOffsetUs = 1000;
    a.returnMs = 50;
    cfg.aes67Rx.push_back(a);
    engine::Aes67Stream t;
    t.address = "127.0.0.1";
    t.port = 9;  // discard
    t.channels = 4;
    t.ssrc = 77;
    cfg.aes67Tx.push_back(t);
  } else {
    cfg.backend = "sim";
    cfg.maxBlocks = blocks;
  }

  engine::Engine e(cfg);
  // The mix tap on with no consumer, the mics in it too (a published mix names a tracked source):
  // the audio thread fills it, then drops and counts.
  e.setMixTap(true);
  e.setMixTapMics(true);
  // The DOA thread runs the multi-peak localiser too (tracking on; drive() toggles it).
  e.setTracking(true);
  std::string error;
  if (!e.start(&error)) {
    std::fprintf(stderr, "start failed: %s\n", error.c_str());
    return 2;
  }
  // The sentinel thread (marked like the audio thread), writing the panel heartbeat into a file
  // and feeding a "watchdog device" that is a file too, with a short stall budget so it trips.
  engine::SentinelConfig sc;
  sc.panelPath = dir + "/alloc_panel.txt";
  std::FILE* touch = std::fopen(sc.panelPath.c_str(), "w");
  if (touch) std::fclose(touch);
  sc.audioStallMs = 10;
  sc.holdAfterMs = 20;
  sc.watchdogFd = ::open((dir + "/alloc_watchdog.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  sc.watchdogFeedMs = 5;
  sc.realtimePriority = false;
  if (mode == "sim" && !e.startSentinel(sc, &error)) {
    std::fprintf(stderr, "sentinel failed: %s\n", error.c_str());
    return 2;
  }
  std::atomic<bool> done{false};
  std::thread control([&] { drive(e, done); });
  std::thread sender, churn;
  int churns = 0;
  engine::NetStreamStats net[3];
  if (mode == "aes67") {
    e.backend()->setMediaClockLocked(true);  // docs/aes67.md "Playout": the timestamp path too
    e.backend()->netStats(net, 3);
    static int ports[2], frames[2] = {48, 6};
    ports[0] = net[0].localPort;
    ports[1] = net[1].localPort;
    sender = std::thread([&] { sendRtp(ports, frames, 4, done); });
    churn = std::thread([&] { churns = churnStreams(e.backend(), done); });
  }
  while (!e.stats().finished) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  done.store(true);
  control.join();
  if (sender.joinable()) sender.join();
  if (churn.joinable()) churn.join();
  int nets = 0;
  if (mode == "aes67") nets = e.backend()->netStats(net, 3);
  const engine::Stats s = e.stats();
  const engine::SentinelStats ss = e.sentinel() ? e.sentinel()->stats() : engine::SentinelStats{};
  if (!e.stop(&error)) {
    std::fprintf(stderr, "stop failed: %s\n", error.c_str());
    return 2;
  }
  const uint64_t allocs = gAudioAllocs.load(), frees = gAudioFrees.load();
  unsigned long long rxPackets = 0, rxLost = 0, rxMalformed = 0, rxUnderruns = 0, txPackets = 0, switches = 0;
  for (int k = 0; k < nets; k++) {
    if (net[k].tx) {
      txPackets += net[k].packets;
    } else {
      rxPackets += net[k].packets;
      rxLost += net[k].lost;
      rxMalformed += net[k].malformed;
      rxUnderruns += net[k].underruns;
      switches = net[k].switches;
    }
  }
  std::printf("{\"churns\":%d,", churns);
  std::printf("\"rxPackets\":%llu,\"rxLost\":%llu,\"rxMalformed\":%llu,\"rxUnderruns\":%llu,\"txPackets\":%llu,\"switches\":%llu,", rxPackets, rxLost, rxMalformed, rxUnderruns, txPackets, switches);
  std::printf("\"interposerWorks\":%s,\"mode\":\"%s\",\"blocks\":%llu,\"audioThreadAllocs\":%llu,\"audioThreadFrees\":%llu,\"audioThreadLocks\":%llu,\"allAllocs\":%llu,\"overruns\":%llu,\"sentinelHeartbeats\":%llu,\"sentinelStalls\":%llu,\"watchdogFeeds\":%llu,\"tracking\":%s,\"peakFrames\":%llu}\n",
              counterOk ? "true" : "false", mode.c_str(), static_cast<unsigned long long>(s.blocks), static_cast<unsigned long long>(allocs),
              static_cast<unsigned long long>(frees), static_cast<unsigned long long>(gAudioLocks.load()),
              static_cast<unsigned long long>(gAllAllocs.load()),
              static_cast<unsigned long long>(s.overruns), static_cast<unsigned long long>(ss.heartbeats),
              static_cast<unsigned long long>(ss.audioStalls), static_cast<unsigned long long>(ss.watchdogFeeds),
              e.trackingAvailable() ? "true" : "false", static_cast<unsigned long long>(gPeakFrames.load()));
  return counterOk && allocs == 0 && frees == 0 && gAudioLocks.load() == 0 && s.blocks >= static_cast<uint64_t>(blocks) ? 0 : 1;
}
