// The aes67 backend: engine inputs from AES67 (RTP L16/L24, 48 kHz) receive streams, engine
// outputs to transmit streams (docs/aes67.md).
//
// Threads. The audio thread is paced by CLOCK_MONOTONIC at the block period (as the sim backend);
// it only copies frames out of each receive stream's ring and into each transmit stream's ring.
// One receive thread polls every receive socket, checks each datagram, reorders by sequence
// number in a small window, conceals what is lost and pushes frames into the stream's ring; one
// transmit thread packs whole packets out of each transmit ring and sends each at its packet time
// (paced: the time its last frame plays on the audio thread's block grid, not a burst per block).
// The rings are
// ring::SpscRing (lock-free, fixed records), so the audio thread never allocates, locks or makes
// a system call here.
//
// The jitter buffer is the receive ring: after the first packet (and after every underrun) the
// audio thread waits until the ring holds the link offset, then plays at its own pace; a ring
// that runs empty is an underrun (silence, then a fresh prefill), one that grows past twice the
// link offset (a sender running fast) drops back to the link offset.
//
// Playout by RTP timestamp (docs/aes67.md, "Playout"): while the system clock is the network's
// media clock (setMediaClockLocked: PTP locked, or this unit the grandmaster), each block plays
// the frames whose RTP timestamp is the block's media time (CLOCK_REALTIME in samples, plus the
// stream's mediaclk offset) minus the link offset: late frames are dropped, early ones wait
// behind silence. So every receiver under one grandmaster plays a sample at the same time,
// whatever the jitter on its way. Otherwise (and for a stream whose timestamps are nowhere near
// the media clock) the stream plays by arrival, as above.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <array>
#include <atomic>
#include <climits>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "../backends/backend.h"
#include "../ring.h"
#include "../rt.h"
#include "rtp.h"

namespace engine {

namespace {

struct Frame {
  float s[net::kMaxChannels];
};

constexpr int kWindow = 32;  // reorder slots (packets)
constexpr int64_t kRelockNs = 500'000'000;  // a new SSRC is accepted after this much silence

uint32_t nextPow2(uint32_t v) {
  uint32_t p = 1024;
  while (p < v) p <<= 1;
  return p;
}

int64_t realtimeNs() noexcept {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// A CLOCK_REALTIME time in samples, mod 2^32: the AES67 media clock (RFC 7273 direct=0).
uint32_t mediaSamples(int64_t realtime, int sampleRate) noexcept {
  const uint64_t ns = static_cast<uint64_t>(realtime);
  return static_cast<uint32_t>(ns / 1'000'000'000ULL * static_cast<uint64_t>(sampleRate) + ns % 1'000'000'000ULL * static_cast<uint64_t>(sampleRate) / 1'000'000'000ULL);
}

bool isMulticast(const in_addr& a) { return (ntohl(a.s_addr) & 0xf0000000u) == 0xe0000000u; }

struct Counters {
  std::atomic<uint64_t> packets{0}, late{0}, lost{0}, concealed{0}, badVersion{0}, wrongPt{0}, tooShort{0}, tooLarge{0}, wrongSsrc{0},
      underruns{0}, overflows{0}, sendErrors{0}, lastPacketNs{0};
  std::atomic<uint32_t> ssrc{0};
  // Control thread, on a slot nobody else reads.
  void clear() noexcept {
    for (auto* a : {&packets, &late, &lost, &concealed, &badVersion, &wrongPt, &tooShort, &tooLarge, &wrongSsrc, &underruns, &overflows, &sendErrors, &lastPacketNs})
      a->store(0, std::memory_order_relaxed);
    ssrc.store(0, std::memory_order_relaxed);
  }
};

struct Slot {
  bool full = false;
  uint16_t seq = 0;
  int frames = 0;
  uint32_t ts = 0;
  int64_t arrivedNs = 0;
  float s[net::kMaxPacketFrames * net::kMaxChannels];
};

class RxStream {
 public:
  // A slot: its ring is sized for the largest link offset (100 ms), so any stream fits it later.
  RxStream(int sampleRate, int blockSize) : sampleRate_(sampleRate), blockSize_(blockSize) {
    const int maxLink = sampleRate / 10, maxPtime = sampleRate / 250;
    ring = std::make_unique<ring::SpscRing<Frame>>(nextPow2(static_cast<uint32_t>(4 * (2 * maxLink + 3 * blockSize + 2 * maxPtime))));
    slots.resize(kWindow);
    scratchStore.assign(static_cast<size_t>(net::kMaxChannels) * static_cast<size_t>(blockSize), 0.0f);
    for (int c = 0; c < net::kMaxChannels; c++) scratch[static_cast<size_t>(c)] = scratchStore.data() + static_cast<size_t>(c) * static_cast<size_t>(blockSize);
  }
  ~RxStream() {
    if (fd >= 0) ::close(fd);
  }

  // Control thread, while neither the receive nor the audio thread looks at this slot: takes
  // stream `c`, with every counter and state from the slot's last stream cleared.
  void configure(const Aes67Stream& c) {
    cfg = c;
    ptimeFrames = std::max(1, static_cast<int>(std::lround(c.ptimeUs * 1e-6 * sampleRate_)));
    linkFrames = std::max(1, static_cast<int>(std::lround(c.linkOffsetUs * 1e-6 * sampleRate_)));
    depth = std::clamp(linkFrames / ptimeFrames / 2, 2, kWindow - 1);
    holdNs = std::max<int64_t>(static_cast<int64_t>(c.linkOffsetUs) * 500, 250'000);
    overflowFrames = 2 * linkFrames + 2 * blockSize_ + 2 * ptimeFrames;
    n.clear();
    uint32_t w;
    ring->getWriteIndex(&w);
    ring->commitRead(w);  // empty
    tsAnchor.store(0, std::memory_order_relaxed);
    anchored.store(false, std::memory_order_relaxed);
    byTimestamp.store(false, std::memory_order_relaxed);
    reset();
    locked = false;
    lastAcceptNs = 0;
    lastFrames = 0;
    concealRun = 0;
    nextTs = 0;
    prefilling = true;
    playing = false;
    playTs = 0;
    healthySinceNs = 0;
    lostMark = packetsMark = 0;
    degraded = false;
    audioDone.store(false, std::memory_order_relaxed);
  }

  // kFree: nobody reads it; kLive: published (release) by the control thread; kRemoving: the
  // control thread waits for the audio thread to let go (audioDone, after a fade-out) and for the
  // receive thread to pass once, then closes the socket and frees it.
  static constexpr int kFree = 0, kLive = 1, kRemoving = 2;
  std::atomic<int> state{kFree};
  std::atomic<bool> audioDone{false};
  int group = -1;  // the failover group (engine input) it feeds; control thread
  // Removal under way (control thread only): when it began, and the audio and network threads'
  // pass counts from the moment they are watched (finishRemove).
  int64_t removeSinceNs = 0, removeMarkNs = 0;
  uint64_t removeAudioMark = 0, removeNetMark = 0;
  bool removeMarked = false;
  int sampleRate_ = 48000, blockSize_ = 64;
  // ---- audio thread only: failover health, and the planes it is read into ----
  int64_t healthySinceNs = 0;
  uint64_t lostMark = 0, packetsMark = 0;
  bool degraded = false;
  std::vector<float> scratchStore;
  std::array<float*, net::kMaxChannels> scratch{};

  Aes67Stream cfg;
  int fd = -1;
  int localPort = 0;
  int ptimeFrames = 48, linkFrames = 96, depth = 2, overflowFrames = 0;
  int64_t holdNs = 0;
  std::unique_ptr<ring::SpscRing<Frame>> ring;
  Counters n;
  // The RTP timestamp of the ring's frames: the ring index of the last packet handed over (high 32
  // bits) and its timestamp (low 32); frames are contiguous in time (losses are concealed in place).
  std::atomic<uint64_t> tsAnchor{0};
  std::atomic<bool> anchored{false}, byTimestamp{false};

  // ---- receive thread only ----
  std::vector<Slot> slots;
  int held = 0;
  bool locked = false, started = false;
  uint16_t next = 0;
  int64_t lastAcceptNs = 0;
  float last[net::kMaxPacketFrames * net::kMaxChannels] = {};
  int lastFrames = 0, concealRun = 0;
  uint32_t nextTs = 0;  // the RTP timestamp of the next frame handed over

  // ---- audio thread only ----
  bool prefilling = true;
  bool playing = false;   // timestamp playout: aligned to the media clock
  uint32_t playTs = 0;    // timestamp playout: the stream timestamp of the next frame to play

  void reset() {
    for (Slot& s : slots) s.full = false;
    held = 0;
    started = false;
  }

  // Hands one packet's frames (interleaved, `frames` x channels) to the audio thread, with the RTP
  // timestamp of its first frame.
  void emit(const float* s, int frames, uint32_t ts) noexcept {
    uint32_t index;
    const int32_t fill = ring->getWriteIndex(&index);
    const int room = static_cast<int>(ring->capacity()) - fill;
    nextTs = ts + static_cast<uint32_t>(frames);
    if (room < frames) {
      n.overflows.fetch_add(static_cast<uint64_t>(frames), std::memory_order_relaxed);
      return;
    }
    // Before the commit, which publishes both.
    tsAnchor.store((static_cast<uint64_t>(index) << 32) | ts, std::memory_order_relaxed);
    anchored.store(true, std::memory_order_relaxed);
    const int ch = cfg.channels;
    for (int f = 0; f < frames; f++) {
      Frame& fr = ring->slot(index + f);
      for (int c = 0; c < ch; c++) fr.s[c] = s[f * ch + c];
    }
    ring->commitWrite(index + static_cast<uint32_t>(frames));
  }

  // The packet `next` never came: repeat the last good one, fading out over two packets.
  void conceal() noexcept {
    const int frames = lastFrames > 0 ? lastFrames : ptimeFrames;
    concealRun++;
    const float g0 = std::max(0.0f, 1.0f - 0.5f * static_cast<float>(concealRun - 1));
    const float g1 = std::max(0.0f, 1.0f - 0.5f * static_cast<float>(concealRun));
    float buf[net::kMaxPacketFrames * net::kMaxChannels];
    const int ch = cfg.channels;
    for (int f = 0; f < frames; f++) {
      const float g = g0 + (g1 - g0) * static_cast<float>(f) / static_cast<float>(frames);
      for (int c = 0; c < ch; c++) buf[f * ch + c] = lastFrames > 0 ? last[f * ch + c] * g : 0.0f;
    }
    emit(buf, frames, nextTs);
    n.lost.fetch_add(1, std::memory_order_relaxed);
    n.concealed.fetch_add(1, std::memory_order_relaxed);
  }

  // Plays out `next` from its slot, or conceals it; advances.
  void advance() noexcept {
    Slot& s = slots[next % kWindow];
    if (s.full && s.seq == next) {
      emit(s.s, s.frames, s.ts);
      std::memcpy(last, s.s, sizeof(float) * static_cast<size_t>(s.frames * cfg.channels));
      lastFrames = s.frames;
      concealRun = 0;
      s.full = false;
      held--;
    } else {
      conceal();
    }
    next++;
  }

  // Plays out everything in order. A gap waits until `depth` packets are held behind it, or
  // until the first packet behind it has waited half the link offset (so a run of gaps at the
  // end of a stream is given up at once, not one hold after another).
  void drain(int64_t now) noexcept {
    while (held > 0) {
      Slot& s = slots[next % kWindow];
      if (s.full && s.seq == next) {
        advance();
        continue;
      }
      if (held >= depth || now - oldestBehindGap() >= holdNs) {
        advance();
        continue;
      }
      break;
    }
  }

  // Arrival time of the first packet held after `next` (now when none).
  int64_t oldestBehindGap() const noexcept {
    for (int k = 1; k < kWindow; k++) {
      const uint16_t seq = static_cast<uint16_t>(next + k);
      const Slot& s = slots[seq % kWindow];
      if (s.full && s.seq == seq) return s.arrivedNs;
    }
    return INT64_MAX;
  }

  void onDatagram(const uint8_t* d, int bytes, bool truncated, int64_t now) noexcept {
    net::RtpPacket p;
    switch (net::parseRtp(d, bytes, truncated, cfg.payloadType, cfg.channels, cfg.bits, std::max(ptimeFrames, 1), &p)) {
      case net::RtpError::kNone: break;
      case net::RtpError::kBadVersion: n.badVersion.fetch_add(1, std::memory_order_relaxed); return;
      case net::RtpError::kWrongPayloadType: n.wrongPt.fetch_add(1, std::memory_order_relaxed); return;
      case net::RtpError::kTooShort: n.tooShort.fetch_add(1, std::memory_order_relaxed); return;
      case net::RtpError::kTooLarge: n.tooLarge.fetch_add(1, std::memory_order_relaxed); return;
      case net::RtpError::kWrongSsrc: return;
    }
    const uint32_t want = cfg.ssrc != 0 ? cfg.ssrc : n.ssrc.load(std::memory_order_relaxed);
    if (cfg.ssrc != 0 || locked) {
      if (p.ssrc != want) {
        if (cfg.ssrc != 0 || now - lastAcceptNs < kRelockNs) {
          n.wrongSsrc.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        reset();  // the old sender is gone: follow the new one
      }
    }
    locked = true;
    n.ssrc.store(p.ssrc, std::memory_order_relaxed);
    // A stream back after a pause longer than its link offset has already run the jitter buffer
    // dry: start over at this packet rather than conceal the whole pause.
    if (!started || now - lastAcceptNs > std::max<int64_t>(kRelockNs / 50, static_cast<int64_t>(cfg.linkOffsetUs) * 1000)) {
      reset();
      started = true;
      next = p.seq;
    }
    int d16 = static_cast<int16_t>(static_cast<uint16_t>(p.seq - next));
    if (d16 < -1000 || d16 >= 1000) {  // the sender restarted its sequence
      reset();
      started = true;
      next = p.seq;
      d16 = 0;
    }
    if (d16 < 0) {
      n.late.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    while (d16 >= kWindow) {  // far ahead: what lies before the window is given up
      advance();
      d16--;
    }
    Slot& s = slots[p.seq % kWindow];
    if (s.full) {  // a duplicate
      n.late.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    s.full = true;
    s.seq = p.seq;
    s.frames = p.frames;
    s.ts = p.timestamp;
    s.arrivedNs = now;
    const int bps = cfg.bits / 8;
    const int samples = p.frames * cfg.channels;
    for (int i = 0; i < samples; i++) s.s[i] = net::decodeSample(p.payload + i * bps, cfg.bits);
    held++;
    lastAcceptNs = now;
    n.packets.fetch_add(1, std::memory_order_relaxed);
    n.lastPacketNs.store(static_cast<uint64_t>(now), std::memory_order_relaxed);
    drain(now);
  }

  // Audio thread: `frames` frames into planes[0 .. channels-1]. `mediaTs`: the block's media time
  // in samples (mod 2^32) when the system clock is the media clock, else nullptr (play by arrival).
  void read(float* const* planes, int frames, const uint32_t* mediaTs) noexcept {
    const int ch = cfg.channels;
    uint32_t index;
    int32_t fill = ring->getReadIndex(&index);
    if (mediaTs && anchored.load(std::memory_order_relaxed)) {
      if (readByTimestamp(planes, frames, *mediaTs + cfg.mediaClockOffset - static_cast<uint32_t>(linkFrames), index, fill)) return;
    } else if (playing) {
      playing = false;  // back to arrival: prefill afresh
      prefilling = true;
      byTimestamp.store(false, std::memory_order_relaxed);
    }
    if (prefilling) {
      if (fill < linkFrames) {
        for (int c = 0; c < ch; c++) std::memset(planes[c], 0, sizeof(float) * static_cast<size_t>(frames));
        return;
      }
      prefilling = false;
    }
    if (fill > overflowFrames) {
      const int drop = fill - linkFrames;
      index += static_cast<uint32_t>(drop);
      fill -= drop;
      n.overflows.fetch_add(static_cast<uint64_t>(drop), std::memory_order_relaxed);
    }
    const int have = std::min(fill, frames);
    for (int c = 0; c < ch; c++) {
      float* dst = planes[c];
      for (int f = 0; f < have; f++) dst[f] = ring->slot(index + static_cast<uint32_t>(f)).s[c];
      for (int f = have; f < frames; f++) dst[f] = 0.0f;
    }
    ring->commitRead(index + static_cast<uint32_t>(have));
    if (have < frames) {
      n.underruns.fetch_add(1, std::memory_order_relaxed);
      prefilling = true;
    }
  }

  // Timestamp playout: plays the frames stamped `want` .. want + frames - 1. False when the
  // stream's timestamps are not on the media clock (more than a second off): play by arrival.
  bool readByTimestamp(float* const* planes, int frames, uint32_t want, uint32_t index, int32_t fill) noexcept {
    const int ch = cfg.channels;
    // Follow the media clock; a slip of more than 2 samples (a clock step, the block grid's
    // rounding over minutes) re-aligns at once.
    const int32_t slip = static_cast<int32_t>(want - playTs);
    if (!playing || slip > 2 || slip < -2) playTs = want;
    const uint64_t a = tsAnchor.load(std::memory_order_relaxed);
    const uint32_t headTs = static_cast<uint32_t>(a) + (index - static_cast<uint32_t>(a >> 32));
    int32_t ahead = static_cast<int32_t>(headTs - playTs);  // > 0: the head plays later; < 0: it is late
    if (ahead > 48000 || ahead < -48000) {
      byTimestamp.store(false, std::memory_order_relaxed);
      if (playing) {
        playing = false;
        prefilling = true;
      }
      return false;
    }
    if (ahead < 0) {  // late frames: their time has passed
      const int drop = std::min(-ahead, static_cast<int>(fill));
      index += static_cast<uint32_t>(drop);
      fill -= drop;
      n.overflows.fetch_add(static_cast<uint64_t>(drop), std::memory_order_relaxed);
      ahead += drop;
    }
    const int wait = std::clamp(ahead, 0, frames);  // silence until the head's time
    const int have = std::min(static_cast<int>(fill), frames - wait);
    for (int c = 0; c < ch; c++) {
      float* dst = planes[c];
      for (int f = 0; f < wait; f++) dst[f] = 0.0f;
      for (int f = 0; f < have; f++) dst[wait + f] = ring->slot(index + static_cast<uint32_t>(f)).s[c];
      for (int f = wait + have; f < frames; f++) dst[f] = 0.0f;
    }
    ring->commitRead(index + static_cast<uint32_t>(have));
    const bool ranShort = wait + have < frames;  // the ring ran empty before the block was full
    if (ranShort && !prefilling) n.underruns.fetch_add(1, std::memory_order_relaxed);
    prefilling = ranShort;
    playing = true;
    byTimestamp.store(true, std::memory_order_relaxed);
    playTs += static_cast<uint32_t>(frames);
    return true;
  }
};

class TxStream {
 public:
  TxStream(int sampleRate, int blockSize) {
    // About 170 ms at 48 kHz: room for a transmit thread the scheduler holds back on a busy machine.
    ring = std::make_unique<ring::SpscRing<Frame>>(nextPow2(static_cast<uint32_t>(std::max(8192, 8 * (blockSize + sampleRate / 250)))));
    sampleRate_ = sampleRate;
  }
  ~TxStream() {
    if (fd >= 0) ::close(fd);
  }

  // Control thread, while neither the audio nor the transmit thread looks at this slot.
  void configure(const Aes67Stream& c) {
    cfg = c;
    ptimeFrames = std::max(1, static_cast<int>(std::lround(c.ptimeUs * 1e-6 * sampleRate_)));
    n.clear();
    uint32_t w;
    ring->getWriteIndex(&w);
    ring->commitRead(w);
    anchor.store(0, std::memory_order_relaxed);
    started = false;
  }

  std::atomic<int> state{RxStream::kFree};
  Aes67Stream cfg;
  int fd = -1;
  // Removal under way (control thread only): when it began, and the audio and network threads'
  // pass counts from the moment they are watched (finishRemove).
  int64_t removeSinceNs = 0, removeMarkNs = 0;
  uint64_t removeAudioMark = 0, removeNetMark = 0;
  bool removeMarked = false;
  int localPort = 0;
  int ptimeFrames = 48;
  sockaddr_in dest{};
  std::unique_ptr<ring::SpscRing<Frame>> ring;
  Counters n;
  // Where the audio thread's block grid is: the ring index of the last block written (high 32
  // bits) and its block time, CLOCK_MONOTONIC in µs mod 2^32 (low 32 bits): frame i of the ring
  // plays at that time + (i - index) / sampleRate. One word, so the transmit thread reads a pair.
  std::atomic<uint64_t> anchor{0};
  // ---- transmit thread only ----
  bool started = false;
  uint16_t seq = 0;
  uint32_t ts = 0;
  int sampleRate_ = 48000;

  // Audio thread: out[firstChannel ...] into the ring; a full ring drops (counted). `blockNs`:
  // the block's time on the audio thread's grid.
  void write(const float* const* out, int frames, int64_t blockNs) noexcept {
    uint32_t index;
    const int32_t fill = ring->getWriteIndex(&index);
    if (static_cast<int>(ring->capacity()) - fill < frames) {
      n.overflows.fetch_add(static_cast<uint64_t>(frames), std::memory_order_relaxed);
      return;
    }
    for (int c = 0; c < cfg.channels; c++) {
      const float* src = out[cfg.firstChannel + c];
      for (int f = 0; f < frames; f++) ring->slot(index + static_cast<uint32_t>(f)).s[c] = src[f];
    }
    // Before the commit, which publishes both (a reader that sees the frames sees their anchor).
    anchor.store((static_cast<uint64_t>(index) << 32) | static_cast<uint32_t>(blockNs / 1000), std::memory_order_relaxed);
    ring->commitWrite(index + static_cast<uint32_t>(frames));
  }

  // When the packet starting at ring index `index` is due: when its last frame has played, on the
  // block grid of the last block written (CLOCK_MONOTONIC ns).
  int64_t dueNs(uint32_t index, int64_t now) const noexcept {
    const uint64_t a = anchor.load(std::memory_order_acquire);
    const uint32_t aIndex = static_cast<uint32_t>(a >> 32);
    const int32_t aheadUs = static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(now / 1000));
    const int64_t anchorNs = now / 1000 * 1000 + static_cast<int64_t>(aheadUs) * 1000;
    const int32_t frames = static_cast<int32_t>(index + static_cast<uint32_t>(ptimeFrames) - aIndex);
    return anchorNs + static_cast<int64_t>(frames) * 1'000'000'000LL / sampleRate_;
  }

  // Transmit thread: sends every whole packet that is due (late ones at once, so a stalled
  // thread catches up); returns when the next waiting one is due (0: none waiting).
  int64_t pump(int64_t now) noexcept {
    uint8_t pkt[net::kRtpHeader + net::kMaxPacketFrames * net::kMaxChannels * 3];
    for (;;) {
      uint32_t index;
      const int32_t fill = ring->getReadIndex(&index);
      if (fill < ptimeFrames) return 0;
      const int64_t due = dueNs(index, now);
      if (due > now + kEarlyNs) return due;
      // The media clock (RFC 7273 direct=0): the PTP-disciplined system clock in samples at the
      // time the packet's first frame plays on the block grid. Packets follow on contiguously; a
      // slip of more than 2 samples (the audio thread lost blocks, the clock stepped) re-stamps.
      const int64_t firstFrameNs = due - static_cast<int64_t>(ptimeFrames) * 1'000'000'000LL / sampleRate_;
      const uint32_t media = mediaSamples(firstFrameNs + (realtimeNs() - rt::nowNs()), sampleRate_);
      const int32_t slip = static_cast<int32_t>(media - ts);
      if (!started) {
        started = true;
        ts = media;
        seq = static_cast<uint16_t>(ts);
      } else if (slip > 2 || slip < -2) {
        ts = media;
      }
      net::writeRtpHeader(pkt, cfg.payloadType, seq, ts, cfg.ssrc);
      const int bps = cfg.bits / 8;
      uint8_t* p = pkt + net::kRtpHeader;
      for (int f = 0; f < ptimeFrames; f++) {
        const Frame& fr = ring->slot(index + static_cast<uint32_t>(f));
        for (int c = 0; c < cfg.channels; c++, p += bps) net::encodeSample(fr.s[c], p, cfg.bits);
      }
      ring->commitRead(index + static_cast<uint32_t>(ptimeFrames));
      const ssize_t sent = ::sendto(fd, pkt, static_cast<size_t>(p - pkt), 0, reinterpret_cast<const sockaddr*>(&dest), sizeof(dest));
      if (sent < 0) {
        n.sendErrors.fetch_add(1, std::memory_order_relaxed);
      } else {
        n.packets.fetch_add(1, std::memory_order_relaxed);
        n.lastPacketNs.store(static_cast<uint64_t>(rt::nowNs()), std::memory_order_relaxed);
      }
      seq++;
      ts += static_cast<uint32_t>(ptimeFrames);
    }
  }

  static constexpr int64_t kEarlyNs = 20'000;  // a packet this close to its time goes now
};

// One engine input fed by 1..4 receive streams in priority order (failover). The audio thread
// reads every member each block (a standby source is consumed in step, so switching to it loses
// none of its samples), plays the active one, and crossfades on a switch. Groups are a fixed
// array: the control thread writes a group's channels while it is idle and publishes its members
// (up to 4 slot numbers and their count, by priority) in one word with a release store.
struct Group {
  std::atomic<int> first{0}, channels{0};
  std::atomic<uint32_t> members{0};  // bits 0-3: count; then 4 bits per slot number, by priority
  // ---- audio thread only ----
  int active = -1, from = -1;  // slot numbers (-1: silence)
  int fadePos = 0, fadeLen = 0;
  int64_t windowStartNs = 0;
  std::atomic<uint64_t> switches{0}, lastSwitchNs{0};
  std::atomic<int> lastCause{0}, activeAtomic{-1};

  static int count(uint32_t m) noexcept { return static_cast<int>(m & 15u); }
  static int member(uint32_t m, int k) noexcept { return static_cast<int>((m >> (4 + 4 * k)) & 15u); }
  static uint32_t pack(const int* slots, int n) noexcept {
    uint32_t m = static_cast<uint32_t>(n);
    for (int k = 0; k < n; k++) m |= static_cast<uint32_t>(slots[k]) << (4 + 4 * k);
    return m;
  }
};

bool parseAddress(const std::string& text, in_addr* out) { return !text.empty() && ::inet_pton(AF_INET, text.c_str(), out) == 1; }

constexpr int kMaxSlots = 8;  // per direction (the slot numbers fit 4 bits)

class Aes67Backend final : public Backend {
 public:
  explicit Aes67Backend(const EngineConfig& c) : cfg_(c) {}
  ~Aes67Backend() override { stopThreads(); }

  bool open(std::string* error) override {
    nRx_ = std::clamp(cfg_.aes67RxSlots, static_cast<int>(cfg_.aes67Rx.size()), kMaxSlots);
    nTx_ = std::clamp(cfg_.aes67TxSlots, static_cast<int>(cfg_.aes67Tx.size()), kMaxSlots);
    try {
      for (int k = 0; k < nRx_; k++) rx_[static_cast<size_t>(k)] = std::make_unique<RxStream>(cfg_.sampleRate, cfg_.blockSize);
      for (int k = 0; k < nTx_; k++) tx_[static_cast<size_t>(k)] = std::make_unique<TxStream>(cfg_.sampleRate, cfg_.blockSize);
    } catch (const std::exception& e) {
      *error = std::string("aes67: ") + e.what();
      return false;
    }
    // The board profile's streams fill the first slots.
    for (const Aes67Stream& s : cfg_.aes67Rx)
      if (addStream(false, s, error) < 0) return false;
    for (const Aes67Stream& s : cfg_.aes67Tx)
      if (addStream(true, s, error) < 0) return false;
    pacer_.setPeriod(static_cast<int64_t>(1e9 * cfg_.blockSize / cfg_.sampleRate));
    running_.store(true);
    rxThread_ = std::thread([this] { receiveLoop(); });
    txThread_ = std::thread([this] { transmitLoop(); });
    return true;
  }

  // Control thread: opens stream `s` in a free slot and publishes it; the slot number, or -1 with
  // *error (no free slot, the socket cannot be opened, the input's sources full or overlapped).
  int addStream(bool tx, const Aes67Stream& s, std::string* error) override {
    const int n = tx ? nTx_ : nRx_;
    int k = 0;
    while (k < n && (tx ? tx_[static_cast<size_t>(k)]->state.load() : rx_[static_cast<size_t>(k)]->state.load()) != RxStream::kFree) k++;
    if (k >= n) {
      *error = std::string("no free ") + (tx ? "transmit" : "receive") + " stream slot (all " + std::to_string(n) + " in use)";
      return -1;
    }
    if (tx) {
      TxStream& t = *tx_[static_cast<size_t>(k)];
      t.configure(s);
      if (!openTx(t, error)) {
        closeFd(t.fd);
        return -1;
      }
      t.state.store(RxStream::kLive, std::memory_order_release);
      return k;
    }
    RxStream& r = *rx_[static_cast<size_t>(k)];
    // Its input: the group on the same channels, else an idle one (no member, nothing fading).
    int g = -1, idle = -1;
    for (int j = 0; j < kMaxSlots; j++) {
      const Group& h = groups_[static_cast<size_t>(j)];
      const uint32_t m = h.members.load(std::memory_order_acquire);
      const int first = h.first.load(std::memory_order_relaxed), ch = h.channels.load(std::memory_order_relaxed);
      if (Group::count(m) == 0) {
        if (idle < 0 && groupIdle(j)) idle = j;
        continue;
      }
      if (first == s.firstChannel && ch == s.channels) g = j;
      else if (s.firstChannel < first + ch && first < s.firstChannel + s.channels) {
        *error = "inputs " + std::to_string(s.firstChannel + 1) + "-" + std::to_string(s.firstChannel + s.channels) + " overlap another stream's without being its alternative source";
        return -1;
      }
    }
    if (g < 0 && idle < 0) {
      *error = "no free input group";
      return -1;
    }
    if (g >= 0 && Group::count(groups_[static_cast<size_t>(g)].members.load()) >= 4) {
      *error = "input " + std::to_string(s.firstChannel + 1) + " has 4 sources already";
      return -1;
    }
    r.configure(s);
    if (!openRx(r, error)) {
      closeFd(r.fd);
      return -1;
    }
    if (g < 0) {
      // An idle group: the audio thread does not touch it, so its counters start afresh here (the
      // watchdog's netaudio monitor must not take an earlier input's switches for this one's).
      g = idle;
      Group& fresh = groups_[static_cast<size_t>(g)];
      fresh.first.store(s.firstChannel, std::memory_order_relaxed);
      fresh.channels.store(s.channels, std::memory_order_relaxed);
      fresh.switches.store(0, std::memory_order_relaxed);
      fresh.lastSwitchNs.store(0, std::memory_order_relaxed);
      fresh.lastCause.store(0, std::memory_order_relaxed);
      fresh.windowStartNs = 0;
    }
    r.group = g;
    r.state.store(RxStream::kLive, std::memory_order_release);  // before the group names it
    Group& G = groups_[static_cast<size_t>(g)];
    const uint32_t m = G.members.load(std::memory_order_relaxed);
    int slots[4];
    int cnt = 0, put = 0;
    for (int j = 0; j < Group::count(m); j++) {
      const int other = Group::member(m, j);
      if (!put && rx_[static_cast<size_t>(other)]->cfg.priority > s.priority) {
        slots[cnt++] = k;
        put = 1;
      }
      slots[cnt++] = other;
    }
    if (!put) slots[cnt++] = k;
    G.members.store(Group::pack(slots, cnt), std::memory_order_release);
    return k;
  }

  // Control thread: takes the stream in slot `k` off the air (backend.h). A playing receive source
  // fades out over half its link offset on the audio thread, which then lets go (audioDone).
  bool beginRemove(bool tx, int k, std::string* error) override {
    const int n = tx ? nTx_ : nRx_;
    if (k < 0 || k >= n || (tx ? tx_[static_cast<size_t>(k)]->state.load() : rx_[static_cast<size_t>(k)]->state.load()) != RxStream::kLive) {
      *error = "no such stream";
      return false;
    }
    const int64_t now = rt::nowNs();
    if (tx) {
      TxStream& t = *tx_[static_cast<size_t>(k)];
      t.state.store(RxStream::kRemoving, std::memory_order_release);
      mark(t, now, txPasses_);
      t.removeSinceNs = now;
      return true;
    }
    RxStream& r = *rx_[static_cast<size_t>(k)];
    Group& G = groups_[static_cast<size_t>(r.group)];
    const uint32_t m = G.members.load(std::memory_order_relaxed);
    int slots[4], cnt = 0;
    for (int j = 0; j < Group::count(m); j++)
      if (Group::member(m, j) != k) slots[cnt++] = Group::member(m, j);
    r.state.store(RxStream::kRemoving, std::memory_order_release);
    G.members.store(Group::pack(slots, cnt), std::memory_order_release);
    mark(r, now, rxPasses_);
    r.removeMarked = false;  // the receive thread's passes count from when the audio thread lets go
    r.removeSinceNs = now;
    return true;
  }

  // Control thread: 1 once the stream in slot `k` is closed and its slot free, 0 while a thread may
  // still read it, -1 with *error (backend.h). Never waits.
  int finishRemove(bool tx, int k, std::string* error) override {
    const int n = tx ? nTx_ : nRx_;
    if (k < 0 || k >= n || (tx ? tx_[static_cast<size_t>(k)]->state.load() : rx_[static_cast<size_t>(k)]->state.load()) != RxStream::kRemoving) {
      *error = "no stream being removed in that slot";
      return -1;
    }
    const int64_t now = rt::nowNs();
    if (tx) {
      TxStream& t = *tx_[static_cast<size_t>(k)];
      if (!letGo(t, now, txPasses_)) return late(t, now, "the audio or transmit thread", error);
      closeFd(t.fd);
      t.state.store(RxStream::kFree, std::memory_order_release);
      return 1;
    }
    RxStream& r = *rx_[static_cast<size_t>(k)];
    if (!r.audioDone.load(std::memory_order_acquire)) {
      // An audio thread that has stopped going round (the engine stopping) will never let go itself.
      if (!audioStopped(r, now)) return late(r, now, "the audio thread", error);
      r.audioDone.store(true, std::memory_order_release);
    }
    if (!r.removeMarked) {
      mark(r, now, rxPasses_);
      r.removeMarked = true;
      return 0;
    }
    if (!letGo(r, now, rxPasses_)) return late(r, now, "the audio or receive thread", error);
    closeFd(r.fd);
    r.state.store(RxStream::kFree, std::memory_order_release);
    return 1;
  }

  int read(float* const* in, int frames) noexcept override {
    pacer_.wait();
    for (int ch = 0; ch < cfg_.inputs; ch++) covered_[ch] = false;
    const int64_t now = rt::nowNs();
    // The block grid (the pacer's deadlines, without its wake-up jitter); back on time after a stall.
    const int64_t periodNs = static_cast<int64_t>(1e9 * cfg_.blockSize / cfg_.sampleRate);
    blockNs_ = blockNs_ == 0 || std::llabs(now - (blockNs_ + periodNs)) > 2 * periodNs ? now : blockNs_ + periodNs;
    // The block's media time (the system clock is the media clock while PTP is locked).
    const bool locked = mediaLocked_.load(std::memory_order_relaxed);
    const uint32_t mediaTs = locked ? mediaSamples(blockNs_ + (realtimeNs() - rt::nowNs()), cfg_.sampleRate) : 0;
    const uint32_t* media = locked ? &mediaTs : nullptr;
    for (int j = 0; j < kMaxSlots; j++) {
      Group& g = groups_[static_cast<size_t>(j)];
      const uint32_t m = g.members.load(std::memory_order_acquire);
      if (Group::count(m) == 0 && g.active < 0 && g.fadeLen == 0) continue;
      const int first = g.first.load(std::memory_order_relaxed), ch = g.channels.load(std::memory_order_relaxed);
      readGroup(g, m, in + first, frames, now, media);
      for (int c = 0; c < ch; c++) covered_[first + c] = true;
    }
    for (int ch = 0; ch < cfg_.inputs; ch++)
      if (!covered_[ch]) std::memset(in[ch], 0, sizeof(float) * static_cast<size_t>(frames));
    // A receive stream being removed that no group plays or fades any more: let go of it.
    for (int k = 0; k < nRx_; k++) {
      RxStream& r = *rx_[static_cast<size_t>(k)];
      if (r.state.load(std::memory_order_acquire) != RxStream::kRemoving || r.audioDone.load(std::memory_order_relaxed)) continue;
      bool used = false;
      for (const Group& g : groups_) used = used || g.active == k || (g.fadeLen > 0 && g.from == k);
      if (!used) r.audioDone.store(true, std::memory_order_release);
    }
    return frames;
  }

  bool write(const float* const* out, int frames) noexcept override {
    for (int k = 0; k < nTx_; k++) {
      TxStream& t = *tx_[static_cast<size_t>(k)];
      if (t.state.load(std::memory_order_acquire) == RxStream::kLive) t.write(out, frames, blockNs_);
    }
    audioPasses_.fetch_add(1, std::memory_order_release);
    return true;
  }

  uint64_t xruns() const noexcept override { return pacer_.xruns(); }

  void setMediaClockLocked(bool locked) const noexcept override { mediaLocked_.store(locked, std::memory_order_relaxed); }

  // A source is healthy while it plays (not prefilling) and its last packet is younger than half
  // its link offset (at least 1 ms), and it lost at most failoverLossPct over the last window.
  static bool healthy(const RxStream& r, int64_t now) noexcept {
    const int64_t last = static_cast<int64_t>(r.n.lastPacketNs.load(std::memory_order_relaxed));
    const int64_t deadNs = std::max<int64_t>(1'000'000, static_cast<int64_t>(r.cfg.linkOffsetUs) * 500);
    return !r.prefilling && last != 0 && now - last < deadNs && !r.degraded;
  }

  // One input: every member read into its planes; the active one played, crossfaded on a switch.
  // A removed source that was playing fades out into the next healthy member (or silence).
  void readGroup(Group& g, uint32_t m, float* const* dst, int frames, int64_t now, const uint32_t* media) noexcept {
    const int cnt = Group::count(m);
    const int ch = g.channels.load(std::memory_order_relaxed);
    for (int k = 0; k < cnt; k++) {
      RxStream& r = *rx_[static_cast<size_t>(Group::member(m, k))];
      r.read(r.scratch.data(), frames, media);
    }
    // A removed source still fading or playing is read on (the control thread waits for it).
    bool activeIn = false;
    for (int k = 0; k < cnt; k++) activeIn = activeIn || Group::member(m, k) == g.active;
    if (g.active >= 0 && !activeIn) rx_[static_cast<size_t>(g.active)]->read(rx_[static_cast<size_t>(g.active)]->scratch.data(), frames, media);
    if (g.fadeLen > 0 && g.from >= 0 && g.from != g.active) {
      bool fromIn = false;
      for (int k = 0; k < cnt; k++) fromIn = fromIn || Group::member(m, k) == g.from;
      if (!fromIn) rx_[static_cast<size_t>(g.from)]->read(rx_[static_cast<size_t>(g.from)]->scratch.data(), frames, media);
    }
    // Loss windows of 250 ms: a member that lost more than its limit is degraded for the next.
    if (g.windowStartNs == 0) g.windowStartNs = now;
    if (now - g.windowStartNs >= 250'000'000) {
      for (int k = 0; k < cnt; k++) {
        RxStream& r = *rx_[static_cast<size_t>(Group::member(m, k))];
        const uint64_t lost = r.n.lost.load(std::memory_order_relaxed), packets = r.n.packets.load(std::memory_order_relaxed);
        const double dl = static_cast<double>(lost - r.lostMark), dp = static_cast<double>(packets - r.packetsMark);
        r.degraded = dl + dp > 0 && 100.0 * dl / (dl + dp) > r.cfg.failoverLossPct;
        r.lostMark = lost;
        r.packetsMark = packets;
      }
      g.windowStartNs = now;
    }
    for (int k = 0; k < cnt; k++) {
      RxStream& r = *rx_[static_cast<size_t>(Group::member(m, k))];
      if (!healthy(r, now)) r.healthySinceNs = 0;
      else if (r.healthySinceNs == 0) r.healthySinceNs = now;
    }
    if (g.active < 0 && g.fadeLen == 0 && cnt > 0) {
      // A new input plays its first source at once (it starts from its prefill silence).
      g.active = Group::member(m, 0);
      g.activeAtomic.store(g.active, std::memory_order_relaxed);
    }
    if (g.fadeLen == 0) {
      // The source to play: the first healthy one by priority; one above the active one only once
      // it has been healthy for its return time. The active one removed: the first healthy one,
      // else the first, else silence, without counting a switch (the operator removed it).
      int activePos = cnt;
      for (int k = 0; k < cnt; k++)
        if (Group::member(m, k) == g.active) activePos = k;
      int target = -1;
      for (int k = 0; k < cnt; k++) {
        const RxStream& r = *rx_[static_cast<size_t>(Group::member(m, k))];
        if (r.healthySinceNs == 0) continue;
        if (k < activePos && activeIn && now - r.healthySinceNs < static_cast<int64_t>(r.cfg.returnMs) * 1'000'000) continue;
        target = Group::member(m, k);
        break;
      }
      if (!activeIn && target < 0) target = cnt > 0 ? Group::member(m, 0) : -1;
      if (g.active >= 0 && (target >= 0 || !activeIn) && target != g.active) {
        const RxStream& old = *rx_[static_cast<size_t>(g.active)];
        if (activeIn) {
          const int cause = activePos > 0 && target >= 0 && posOf(m, target) < activePos ? 3 : (old.degraded ? 2 : 1);
          g.lastCause.store(cause, std::memory_order_relaxed);
          g.lastSwitchNs.store(static_cast<uint64_t>(now), std::memory_order_relaxed);
          g.switches.fetch_add(1, std::memory_order_relaxed);
        }
        g.from = g.active;
        g.active = target;
        g.fadePos = 0;
        g.fadeLen = std::max(16, old.linkFrames / 2);
        g.activeAtomic.store(target, std::memory_order_relaxed);
      }
    }
    const float* const* act = g.active >= 0 ? rx_[static_cast<size_t>(g.active)]->scratch.data() : nullptr;
    const float* const* old = g.fadeLen > 0 && g.from >= 0 ? rx_[static_cast<size_t>(g.from)]->scratch.data() : nullptr;
    for (int c = 0; c < ch; c++) {
      float* d = dst[c];
      if (g.fadeLen == 0) {
        if (act) std::memcpy(d, act[c], sizeof(float) * static_cast<size_t>(frames));
        else std::memset(d, 0, sizeof(float) * static_cast<size_t>(frames));
        continue;
      }
      for (int f = 0; f < frames; f++) {
        const int pos = g.fadePos + f;
        const float a = act ? act[c][f] : 0.0f, o = old ? old[c][f] : 0.0f;
        const float w = pos >= g.fadeLen ? 1.0f : static_cast<float>(pos) / static_cast<float>(g.fadeLen);
        d[f] = pos >= g.fadeLen ? a : (1.0f - w) * o + w * a;
      }
    }
    if (g.fadeLen > 0) {
      g.fadePos += frames;
      if (g.fadePos >= g.fadeLen) {
        g.fadeLen = 0;
        g.from = -1;
      }
    }
  }

  static int posOf(uint32_t m, int slot) noexcept {
    for (int k = 0; k < Group::count(m); k++)
      if (Group::member(m, k) == slot) return k;
    return Group::count(m);
  }

  bool close(std::string* error) override {
    stopThreads();
    return true;
  }

  int netStats(NetStreamStats* out, int max) const noexcept override {
    int k = 0;
    for (int s = 0; s < nRx_; s++) {
      const RxStream& rx = *rx_[static_cast<size_t>(s)];
      if (rx.state.load(std::memory_order_acquire) != RxStream::kLive) continue;
      if (k >= max) break;
      fill(out[k], rx.n, false, rx.localPort);
      out[k].slot = s;
      uint32_t index;
      out[k].fillFrames = rx.ring->getReadIndex(&index);
      out[k].priority = rx.cfg.priority;
      out[k].timestampPlayout = rx.byTimestamp.load(std::memory_order_relaxed);
      if (rx.group >= 0) {
        const Group& g = groups_[static_cast<size_t>(rx.group)];
        out[k].active = g.activeAtomic.load(std::memory_order_relaxed) == s;
        out[k].switches = g.switches.load(std::memory_order_relaxed);
        out[k].lastSwitchCause = g.lastCause.load(std::memory_order_relaxed);
        out[k].lastSwitchNs = g.lastSwitchNs.load(std::memory_order_relaxed);
      }
      k++;
    }
    for (int s = 0; s < nTx_; s++) {
      const TxStream& tx = *tx_[static_cast<size_t>(s)];
      if (tx.state.load(std::memory_order_acquire) != RxStream::kLive) continue;
      if (k >= max) break;
      fill(out[k], tx.n, true, tx.localPort);
      out[k].slot = s;
      out[k].ssrc = tx.cfg.ssrc;
      k++;
    }
    return k;
  }

 private:
  static void fill(NetStreamStats& o, const Counters& n, bool tx, int port) noexcept {
    const auto r = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    o.tx = tx;
    o.localPort = port;
    o.packets = r(n.packets);
    o.late = r(n.late);
    o.lost = r(n.lost);
    o.concealed = r(n.concealed);
    o.badVersion = r(n.badVersion);
    o.wrongPayloadType = r(n.wrongPt);
    o.tooShort = r(n.tooShort);
    o.tooLarge = r(n.tooLarge);
    o.wrongSsrc = r(n.wrongSsrc);
    o.malformed = o.badVersion + o.wrongPayloadType + o.tooShort + o.tooLarge + o.wrongSsrc;
    o.underruns = r(n.underruns);
    o.overflows = r(n.overflows);
    o.sendErrors = r(n.sendErrors);
    o.lastPacketNs = r(n.lastPacketNs);
    o.ssrc = n.ssrc.load(std::memory_order_relaxed);
  }

  bool openRx(RxStream& rx, std::string* error) {
    const Aes67Stream& s = rx.cfg;
    const std::string what = "aes67 rx " + (s.address.empty() ? std::string("*") : s.address) + ":" + std::to_string(s.port);
    in_addr addr{};
    const bool hasAddr = parseAddress(s.address, &addr);
    if (!s.address.empty() && !hasAddr) {
      *error = what + ": not an IPv4 address";
      return false;
    }
    rx.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (rx.fd < 0) {
      *error = what + ": socket: " + std::strerror(errno);
      return false;
    }
    int one = 1;
    ::setsockopt(rx.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int buf = 1 << 20;
    ::setsockopt(rx.fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(s.port));
    const bool multicast = hasAddr && isMulticast(addr);
    sa.sin_addr.s_addr = multicast ? addr.s_addr : (hasAddr ? addr.s_addr : htonl(INADDR_ANY));
    if (::bind(rx.fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      *error = what + ": bind: " + std::strerror(errno);
      return false;
    }
    if (multicast) {
      ip_mreq m{};
      m.imr_multiaddr = addr;
      in_addr ifa{};
      m.imr_interface.s_addr = parseAddress(s.iface, &ifa) ? ifa.s_addr : htonl(INADDR_ANY);
      if (::setsockopt(rx.fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)) != 0) {
        *error = what + ": join multicast group: " + std::strerror(errno);
        return false;
      }
    }
    socklen_t len = sizeof(sa);
    ::getsockname(rx.fd, reinterpret_cast<sockaddr*>(&sa), &len);
    rx.localPort = ntohs(sa.sin_port);
    return true;
  }

  bool openTx(TxStream& tx, std::string* error) {
    const Aes67Stream& s = tx.cfg;
    const std::string what = "aes67 tx " + s.address + ":" + std::to_string(s.port);
    in_addr addr{};
    if (!parseAddress(s.address, &addr) || s.port <= 0) {
      *error = what + ": needs an IPv4 destination address and port";
      return false;
    }
    tx.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (tx.fd < 0) {
      *error = what + ": socket: " + std::strerror(errno);
      return false;
    }
    int ttl = s.ttl;
    ::setsockopt(tx.fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
    int loop = 1;
    ::setsockopt(tx.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
    int tos = 46 << 2;  // DSCP EF, AES67's recommendation for media
    ::setsockopt(tx.fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
    sockaddr_in local{};
    local.sin_family = AF_INET;
    in_addr ifa{};
    if (parseAddress(s.iface, &ifa)) {
      ::setsockopt(tx.fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof(ifa));
      local.sin_addr = ifa;
    }
    if (::bind(tx.fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
      *error = what + ": bind: " + std::strerror(errno);
      return false;
    }
    socklen_t len = sizeof(local);
    ::getsockname(tx.fd, reinterpret_cast<sockaddr*>(&local), &len);
    tx.localPort = ntohs(local.sin_port);
    tx.dest.sin_family = AF_INET;
    tx.dest.sin_addr = addr;
    tx.dest.sin_port = htons(static_cast<uint16_t>(s.port));
    return true;
  }


  static void closeFd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  // A group no source feeds and the audio thread no longer plays or fades (control thread).
  bool groupIdle(int j) const noexcept {
    for (int k = 0; k < nRx_; k++) {
      const RxStream& r = *rx_[static_cast<size_t>(k)];
      if (r.group == j && r.state.load(std::memory_order_acquire) != RxStream::kFree) return false;
    }
    return true;
  }

  // Control thread: waits until the audio thread and the network thread (transmit or receive)
  // have each gone round twice, so neither still holds a slot it saw before the caller's store.
  // Removal bookkeeping (control thread). `mark` notes the pass counts now; a thread has let go of
  // a slot once it has gone round twice since (it reads the slot's state each round), or has stopped.
  template <class S>
  void mark(S& s, int64_t now, const std::atomic<uint64_t>& netPasses) {
    s.removeMarkNs = now;
    s.removeAudioMark = audioPasses_.load(std::memory_order_acquire);
    s.removeNetMark = netPasses.load(std::memory_order_acquire);
  }
  template <class S>
  bool audioStopped(const S& s, int64_t now) const {
    return audioPasses_.load(std::memory_order_acquire) == s.removeAudioMark && now - s.removeMarkNs > 500'000'000LL;
  }
  template <class S>
  bool letGo(const S& s, int64_t now, const std::atomic<uint64_t>& netPasses) const {
    const bool audio = audioPasses_.load(std::memory_order_acquire) >= s.removeAudioMark + 2 || audioStopped(s, now);
    const bool net = netPasses.load(std::memory_order_acquire) >= s.removeNetMark + 2 || !running_.load();
    return audio && net;
  }
  // 0 (ask again), or -1 once 2 s have passed: the slot then stays taken until the engine stops.
  template <class S>
  static int late(const S& s, int64_t now, const char* who, std::string* error) {
    if (now - s.removeSinceNs < 2'000'000'000LL) return 0;
    *error = std::string(who) + " did not let go of the stream within 2 s";
    return -1;
  }

  void receiveLoop() noexcept {
    std::array<pollfd, kMaxSlots> fds{};
    std::array<int, kMaxSlots> which{};
    uint8_t buf[net::kMaxDatagram + 1];
    while (running_.load(std::memory_order_relaxed)) {
      nfds_t nf = 0;
      for (int k = 0; k < nRx_; k++) {
        RxStream& rx = *rx_[static_cast<size_t>(k)];
        if (rx.state.load(std::memory_order_acquire) != RxStream::kLive) continue;
        fds[nf] = {rx.fd, POLLIN, 0};
        which[nf++] = k;
      }
      const int r = ::poll(fds.data(), nf, 1);
      const int64_t now = rt::nowNs();
      for (nfds_t i = 0; i < nf; i++) {
        RxStream& rx = *rx_[static_cast<size_t>(which[i])];
        if (r > 0 && (fds[i].revents & POLLIN)) {
          for (int k = 0; k < 256; k++) {
            const ssize_t got = ::recv(rx.fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
            if (got < 0) break;
            const bool truncated = got > net::kMaxDatagram;
            rx.onDatagram(buf, static_cast<int>(std::min<ssize_t>(got, net::kMaxDatagram)), truncated, now);
          }
        }
        rx.drain(now);
      }
      rxPasses_.fetch_add(1, std::memory_order_release);
    }
  }

  // Sleeps until the next packet is due (at most 500 µs; 200 µs when no whole packet waits).
  void transmitLoop() noexcept {
    while (running_.load(std::memory_order_relaxed)) {
      const int64_t now = rt::nowNs();
      int64_t wake = now + 200'000;
      bool waiting = false;
      for (int k = 0; k < nTx_; k++) {
        TxStream& tx = *tx_[static_cast<size_t>(k)];
        if (tx.state.load(std::memory_order_acquire) != RxStream::kLive) continue;
        const int64_t due = tx.pump(now);
        if (due == 0) continue;
        wake = waiting ? std::min(wake, due) : due;
        waiting = true;
      }
      txPasses_.fetch_add(1, std::memory_order_release);
      wake = std::min(wake, now + 500'000);
      timespec ts;
      ts.tv_sec = static_cast<time_t>(wake / 1'000'000'000LL);
      ts.tv_nsec = static_cast<long>(wake % 1'000'000'000LL);
      while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
    }
  }

  void stopThreads() {
    running_.store(false);
    if (rxThread_.joinable()) rxThread_.join();
    if (txThread_.joinable()) txThread_.join();
  }

  EngineConfig cfg_;
  // Slots preallocated at open (docs/aes67.md, "Streams at run time"): nRx_ / nTx_ of them.
  std::array<std::unique_ptr<RxStream>, kMaxSlots> rx_;
  std::array<std::unique_ptr<TxStream>, kMaxSlots> tx_;
  int nRx_ = 0, nTx_ = 0;
  std::array<Group, kMaxSlots> groups_;
  bool covered_[64] = {};
  int64_t blockNs_ = 0;  // audio thread: this block's time on the block grid
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> audioPasses_{0}, rxPasses_{0}, txPasses_{0};  // blocks / loops done (removal waits on them)
  mutable std::atomic<bool> mediaLocked_{false};  // the system clock is the media clock (setMediaClockLocked)
  std::thread rxThread_, txThread_;
  rt::BlockPacer pacer_;
};

}  // namespace

std::unique_ptr<Backend> makeAes67Backend(const EngineConfig& config) { return std::make_unique<Aes67Backend>(config); }

}  // namespace engine
