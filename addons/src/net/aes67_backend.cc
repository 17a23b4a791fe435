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
  RxStream(const Aes67Stream& c, int sampleRate, int blockSize) : cfg(c) {
    ptimeFrames = std::max(1, static_cast<int>(std::lround(c.ptimeUs * 1e-6 * sampleRate)));
    linkFrames = std::max(1, static_cast<int>(std::lround(c.linkOffsetUs * 1e-6 * sampleRate)));
    depth = std::clamp(linkFrames / ptimeFrames / 2, 2, kWindow - 1);
    holdNs = std::max<int64_t>(static_cast<int64_t>(c.linkOffsetUs) * 500, 250'000);
    overflowFrames = 2 * linkFrames + 2 * blockSize + 2 * ptimeFrames;
    ring = std::make_unique<ring::SpscRing<Frame>>(nextPow2(static_cast<uint32_t>(4 * (overflowFrames + blockSize))));
    slots.resize(kWindow);
  }
  ~RxStream() {
    if (fd >= 0) ::close(fd);
  }

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
  TxStream(const Aes67Stream& c, int sampleRate, int blockSize) : cfg(c) {
    ptimeFrames = std::max(1, static_cast<int>(std::lround(c.ptimeUs * 1e-6 * sampleRate)));
    // About 170 ms at 48 kHz: room for a transmit thread the scheduler holds back on a busy machine.
    ring = std::make_unique<ring::SpscRing<Frame>>(nextPow2(static_cast<uint32_t>(std::max(8192, 8 * (blockSize + ptimeFrames)))));
    sampleRate_ = sampleRate;
  }
  ~TxStream() {
    if (fd >= 0) ::close(fd);
  }

  Aes67Stream cfg;
  int fd = -1;
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
// none of its samples), plays the active one, and crossfades on a switch.
struct Group {
  int first = 0, channels = 0;
  std::vector<RxStream*> members;  // by priority
  std::vector<int64_t> healthySinceNs;
  std::vector<uint64_t> lostMark, packetsMark;
  std::vector<bool> degraded;
  int active = 0, from = -1;
  int fadePos = 0, fadeLen = 0;
  int64_t windowStartNs = 0;
  std::atomic<uint64_t> switches{0}, lastSwitchNs{0};
  std::atomic<int> lastCause{0}, activeAtomic{0};
};

bool parseAddress(const std::string& text, in_addr* out) { return !text.empty() && ::inet_pton(AF_INET, text.c_str(), out) == 1; }

class Aes67Backend final : public Backend {
 public:
  explicit Aes67Backend(const EngineConfig& c) : cfg_(c) {}
  ~Aes67Backend() override { stopThreads(); }

  bool open(std::string* error) override {
    try {
      for (const Aes67Stream& s : cfg_.aes67Rx) {
        auto rx = std::make_unique<RxStream>(s, cfg_.sampleRate, cfg_.blockSize);
        if (!openRx(*rx, error)) return false;
        rx_.push_back(std::move(rx));
      }
      for (const Aes67Stream& s : cfg_.aes67Tx) {
        auto tx = std::make_unique<TxStream>(s, cfg_.sampleRate, cfg_.blockSize);
        if (!openTx(*tx, error)) return false;
        tx_.push_back(std::move(tx));
      }
    } catch (const std::exception& e) {
      *error = std::string("aes67: ") + e.what();
      return false;
    }
    // Failover groups: receive streams on the same channels, in priority order.
    for (auto& rx : rx_) {
      Group* g = nullptr;
      for (auto& h : groups_)
        if (h->first == rx->cfg.firstChannel && h->channels == rx->cfg.channels) g = h.get();
      if (!g) {
        groups_.push_back(std::make_unique<Group>());
        g = groups_.back().get();
        g->first = rx->cfg.firstChannel;
        g->channels = rx->cfg.channels;
      }
      g->members.push_back(rx.get());
    }
    for (auto& g : groups_) {
      std::stable_sort(g->members.begin(), g->members.end(), [](const RxStream* a, const RxStream* b) { return a->cfg.priority < b->cfg.priority; });
      const size_t n = g->members.size();
      g->healthySinceNs.assign(n, 0);
      g->lostMark.assign(n, 0);
      g->packetsMark.assign(n, 0);
      g->degraded.assign(n, false);
      for (size_t k = 0; k < n; k++) {
        scratchStore_.emplace_back(static_cast<size_t>(net::kMaxChannels) * static_cast<size_t>(cfg_.blockSize), 0.0f);
      }
    }
    for (auto& v : scratchStore_) {
      std::array<float*, net::kMaxChannels> planes{};
      for (int c = 0; c < net::kMaxChannels; c++) planes[static_cast<size_t>(c)] = v.data() + static_cast<size_t>(c) * static_cast<size_t>(cfg_.blockSize);
      scratch_.push_back(planes);
    }
    pacer_.setPeriod(static_cast<int64_t>(1e9 * cfg_.blockSize / cfg_.sampleRate));
    running_.store(true);
    if (!rx_.empty()) rxThread_ = std::thread([this] { receiveLoop(); });
    if (!tx_.empty()) txThread_ = std::thread([this] { transmitLoop(); });
    return true;
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
    for (auto& g : groups_) {
      if (g->members.size() == 1) {
        g->members[0]->read(in + g->first, frames, media);
      } else {
        readGroup(*g, in, frames, now, media);
      }
      for (int c = 0; c < g->channels; c++) covered_[g->first + c] = true;
    }
    for (int ch = 0; ch < cfg_.inputs; ch++)
      if (!covered_[ch]) std::memset(in[ch], 0, sizeof(float) * static_cast<size_t>(frames));
    return frames;
  }

  bool write(const float* const* out, int frames) noexcept override {
    for (auto& tx : tx_) tx->write(out, frames, blockNs_);
    return true;
  }

  uint64_t xruns() const noexcept override { return pacer_.xruns(); }

  void setMediaClockLocked(bool locked) const noexcept override { mediaLocked_.store(locked, std::memory_order_relaxed); }

  // A source is healthy while it plays (not prefilling) and its last packet is younger than half
  // its link offset (at least 1 ms), and it lost at most failoverLossPct over the last window.
  static bool healthy(const Group& g, size_t k, int64_t now) noexcept {
    const RxStream& r = *g.members[k];
    const int64_t last = static_cast<int64_t>(r.n.lastPacketNs.load(std::memory_order_relaxed));
    const int64_t deadNs = std::max<int64_t>(1'000'000, static_cast<int64_t>(r.cfg.linkOffsetUs) * 500);
    return !r.prefilling && last != 0 && now - last < deadNs && !g.degraded[k];
  }

  void readGroup(Group& g, float* const* in, int frames, int64_t now, const uint32_t* media) noexcept {
    // Every member into its scratch planes.
    for (size_t k = 0; k < g.members.size(); k++) {
      RxStream& r = *g.members[k];
      r.read(scratch_[k + groupScratchBase(g)].data(), frames, media);
    }
    // Loss windows of 250 ms: a member that lost more than its limit is degraded for the next.
    if (g.windowStartNs == 0) g.windowStartNs = now;
    if (now - g.windowStartNs >= 250'000'000) {
      for (size_t k = 0; k < g.members.size(); k++) {
        const RxStream& r = *g.members[k];
        const uint64_t lost = r.n.lost.load(std::memory_order_relaxed), packets = r.n.packets.load(std::memory_order_relaxed);
        const double dl = static_cast<double>(lost - g.lostMark[k]), dp = static_cast<double>(packets - g.packetsMark[k]);
        g.degraded[k] = dl + dp > 0 && 100.0 * dl / (dl + dp) > r.cfg.failoverLossPct;
        g.lostMark[k] = lost;
        g.packetsMark[k] = packets;
      }
      g.windowStartNs = now;
    }
    for (size_t k = 0; k < g.members.size(); k++) {
      if (!healthy(g, k, now)) g.healthySinceNs[k] = 0;
      else if (g.healthySinceNs[k] == 0) g.healthySinceNs[k] = now;
    }
    // The source to play: the first healthy one by priority; one above the active one only once
    // it has been healthy for its return time.
    if (g.fadeLen == 0) {
      int target = -1;
      for (size_t k = 0; k < g.members.size(); k++) {
        if (g.healthySinceNs[k] == 0) continue;
        if (static_cast<int>(k) < g.active && now - g.healthySinceNs[k] < static_cast<int64_t>(g.members[k]->cfg.returnMs) * 1'000'000) continue;
        target = static_cast<int>(k);
        break;
      }
      if (target >= 0 && target != g.active) {
        const size_t a = static_cast<size_t>(g.active);
        const int cause = target < g.active ? 3 : (g.degraded[a] ? 2 : 1);
        g.from = g.active;
        g.active = target;
        g.fadePos = 0;
        g.fadeLen = std::max(16, g.members[a]->linkFrames / 2);
        g.lastCause.store(cause, std::memory_order_relaxed);
        g.lastSwitchNs.store(static_cast<uint64_t>(now), std::memory_order_relaxed);
        g.switches.fetch_add(1, std::memory_order_relaxed);
        g.activeAtomic.store(target, std::memory_order_relaxed);
      }
    }
    const size_t base = groupScratchBase(g);
    for (int c = 0; c < g.channels; c++) {
      float* dst = in[g.first + c];
      const float* act = scratch_[base + static_cast<size_t>(g.active)][c];
      if (g.fadeLen == 0) {
        std::memcpy(dst, act, sizeof(float) * static_cast<size_t>(frames));
        continue;
      }
      const float* old = scratch_[base + static_cast<size_t>(g.from)][c];
      for (int f = 0; f < frames; f++) {
        const int pos = g.fadePos + f;
        const float w = pos >= g.fadeLen ? 1.0f : static_cast<float>(pos) / static_cast<float>(g.fadeLen);
        dst[f] = pos >= g.fadeLen ? act[f] : (1.0f - w) * old[f] + w * act[f];
      }
    }
    if (g.fadeLen > 0) {
      g.fadePos += frames;
      if (g.fadePos >= g.fadeLen) g.fadeLen = 0;
    }
  }

  size_t groupScratchBase(const Group& g) const noexcept {
    size_t base = 0;
    for (const auto& h : groups_) {
      if (h.get() == &g) return base;
      base += h->members.size();
    }
    return base;
  }

  bool close(std::string* error) override {
    stopThreads();
    return true;
  }

  int netStats(NetStreamStats* out, int max) const noexcept override {
    int k = 0;
    for (const auto& rx : rx_) {
      if (k >= max) break;
      fill(out[k], rx->n, false, rx->localPort);
      uint32_t index;
      out[k].fillFrames = rx->ring->getReadIndex(&index);
      out[k].priority = rx->cfg.priority;
      out[k].timestampPlayout = rx->byTimestamp.load(std::memory_order_relaxed);
      for (const auto& g : groups_) {
        for (size_t m = 0; m < g->members.size(); m++) {
          if (g->members[m] != rx.get()) continue;
          out[k].active = static_cast<int>(m) == g->activeAtomic.load(std::memory_order_relaxed);
          out[k].switches = g->switches.load(std::memory_order_relaxed);
          out[k].lastSwitchCause = g->lastCause.load(std::memory_order_relaxed);
          out[k].lastSwitchNs = g->lastSwitchNs.load(std::memory_order_relaxed);
        }
      }
      k++;
    }
    for (const auto& tx : tx_) {
      if (k >= max) break;
      fill(out[k], tx->n, true, tx->localPort);
      out[k].ssrc = tx->cfg.ssrc;
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

  void receiveLoop() noexcept {
    std::vector<pollfd> fds;
    for (auto& rx : rx_) fds.push_back({rx->fd, POLLIN, 0});
    uint8_t buf[net::kMaxDatagram + 1];
    while (running_.load(std::memory_order_relaxed)) {
      const int r = ::poll(fds.data(), fds.size(), 1);
      const int64_t now = rt::nowNs();
      for (size_t i = 0; i < rx_.size(); i++) {
        RxStream& rx = *rx_[i];
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
    }
  }

  // Sleeps until the next packet is due (at most 500 µs; 200 µs when no whole packet waits).
  void transmitLoop() noexcept {
    while (running_.load(std::memory_order_relaxed)) {
      const int64_t now = rt::nowNs();
      int64_t wake = now + 200'000;
      bool waiting = false;
      for (auto& tx : tx_) {
        const int64_t due = tx->pump(now);
        if (due == 0) continue;
        wake = waiting ? std::min(wake, due) : due;
        waiting = true;
      }
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
  std::vector<std::unique_ptr<RxStream>> rx_;
  std::vector<std::unique_ptr<TxStream>> tx_;
  std::vector<std::unique_ptr<Group>> groups_;
  std::vector<std::vector<float>> scratchStore_;
  std::vector<std::array<float*, net::kMaxChannels>> scratch_;  // per group member, in group order
  bool covered_[64] = {};
  int64_t blockNs_ = 0;  // audio thread: this block's time on the block grid
  std::atomic<bool> running_{false};
  mutable std::atomic<bool> mediaLocked_{false};  // the system clock is the media clock (setMediaClockLocked)
  std::thread rxThread_, txThread_;
  rt::BlockPacer pacer_;
};

}  // namespace

std::unique_ptr<Backend> makeAes67Backend(const EngineConfig& config) { return std::make_unique<Aes67Backend>(config); }

}  // namespace engine
