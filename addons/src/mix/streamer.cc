#include "mix/streamer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <opus/opus.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>

#include "engine.h"

namespace mix {

namespace {
constexpr int kPayloadType = 111;
constexpr int kMaxPacket = 1500;

double threadCpuUs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}
}  // namespace

struct Streamer::Stream {
  StreamSpec spec;
  explicit Stream(double rate) : renderer(rate) {}
  Renderer renderer;
  OpusEncoder* enc = nullptr;
  int fd = -1;
  uint16_t seq = 0;
  uint32_t ts = 0;
  bool first = true;
  StreamStats st;
  ~Stream() {
    if (enc) opus_encoder_destroy(enc);
    if (fd >= 0) ::close(fd);
  }
};

Streamer::Streamer(engine::Engine* engine, int sampleRate, int frameMs) : engine_(engine), rate_(sampleRate) {
  if (sampleRate != 48000) throw std::invalid_argument("the mix streamer runs at 48000 Hz");
  if (frameMs != 10 && frameMs != 20) throw std::invalid_argument("frameMs must be 10 or 20");
  frameSamples_ = sampleRate * frameMs / 1000;
  acc_.assign(kTapOutputs + 1, std::vector<float>(frameSamples_, 0.0f));
  left_.assign(frameSamples_, 0.0f);
  right_.assign(frameSamples_, 0.0f);
  inter_.assign(frameSamples_ * 2, 0.0f);
  packet_.assign(kMaxPacket, 0);
  for (int j = 0; j < kMaxStems; j++) {
    dirAz_[j].store(0);
    dirEl_[j].store(0);
    dirOn_[j].store(false);
  }
  const auto& mics = engine->config().mics;
  if (mics.size() >= 2) {
    dsp::Geometry g;
    g.sampleRate = sampleRate;
    for (size_t k = 0; k < mics.size() && k < static_cast<size_t>(kTapMics); k++) g.mics.push_back({mics[k].x, mics[k].y, mics[k].z});
    sep::SeparatorOptions o;
    o.sources = kMaxStems;
    sep_ = std::make_unique<sep::BeamSeparator>(g, o);
    sepMics_ = static_cast<int>(g.mics.size());
    micAcc_.assign(sepMics_, std::vector<float>(frameSamples_, 0.0f));
    stems_.assign(kMaxStems, std::vector<float>(frameSamples_, 0.0f));
    const bool off[kMaxStems] = {};
    sep_->setDirections(az_, el_, off);
  }
}

void Streamer::setDirections(const double* azDeg, const double* elDeg, const bool* active, int n) noexcept {
  const uint32_t s = dirSeq_.load(std::memory_order_relaxed);
  dirSeq_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (int j = 0; j < kMaxStems; j++) {
    const bool on = j < n && active[j];
    dirAz_[j].store(on ? azDeg[j] : 0.0, std::memory_order_relaxed);
    dirEl_[j].store(on && elDeg ? elDeg[j] : 0.0, std::memory_order_relaxed);
    dirOn_[j].store(on, std::memory_order_relaxed);
  }
  dirSeq_.store(s + 2, std::memory_order_release);
}

void Streamer::readDirections() noexcept {
  // A torn read (the writer was in the middle) keeps the last good directions for this hop.
  const uint32_t s1 = dirSeq_.load(std::memory_order_acquire);
  if (s1 & 1u) return;
  double az[kMaxStems], el[kMaxStems];
  bool on[kMaxStems];
  for (int j = 0; j < kMaxStems; j++) {
    az[j] = dirAz_[j].load(std::memory_order_relaxed);
    el[j] = dirEl_[j].load(std::memory_order_relaxed);
    on[j] = dirOn_[j].load(std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  if (dirSeq_.load(std::memory_order_relaxed) != s1) return;
  for (int j = 0; j < kMaxStems; j++) {
    az_[j] = az[j];
    el_[j] = el[j];
    on_[j] = on[j];
  }
  sep_->setDirections(az_, el_, on_);
}

void Streamer::onHop(void* self) noexcept { static_cast<Streamer*>(self)->readDirections(); }

Streamer::~Streamer() { stop(); }

bool Streamer::openStream(Stream* s, std::string* error) {
  int err = 0;
  s->enc = opus_encoder_create(rate_, 2, OPUS_APPLICATION_RESTRICTED_LOWDELAY, &err);
  if (err != OPUS_OK || !s->enc) {
    *error = std::string("opus encoder: ") + opus_strerror(err);
    return false;
  }
  opus_encoder_ctl(s->enc, OPUS_SET_BITRATE(s->spec.bitrate));
  s->fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(s->spec.port));
  if (inet_pton(AF_INET, s->spec.host.c_str(), &to.sin_addr) != 1) {
    *error = "host must be an IPv4 address, got " + s->spec.host;
    return false;
  }
  // Connected: the kernel then reports an unreachable ingest (ICMP) as ECONNREFUSED on a send.
  if (::connect(s->fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    *error = std::string("connect: ") + std::strerror(errno);
    return false;
  }
  std::random_device rd;
  s->seq = static_cast<uint16_t>(rd());
  s->ts = rd();
  if (s->spec.ssrc == 0) s->spec.ssrc = rd() | 1u;
  s->renderer.setProfile(s->spec.profile);
  s->st.name = s->spec.name;
  return true;
}

bool Streamer::setStreams(const std::vector<StreamSpec>& specs, std::string* error) {
  // First open every new stream (encoder, socket): a failure returns with nothing changed.
  std::vector<std::unique_ptr<Stream>> fresh(specs.size());
  std::lock_guard<std::mutex> lock(mu_);
  // Stems are rendered (and the mics tapped) only while some stream gives a slot a gain.
  auto stemmed = [](const Profile& p) {
    for (float g : p.stemGain)
      if (g != 0.0f) return true;
    return false;
  };
  auto same = [](const StreamSpec& a, const StreamSpec& b) { return a.name == b.name && a.port == b.port && a.host == b.host; };
  for (size_t i = 0; i < specs.size(); i++) {
    bool kept = false;
    for (auto& old : streams_) kept = kept || same(old->spec, specs[i]);
    if (kept) continue;
    fresh[i] = std::make_unique<Stream>(rate_);
    fresh[i]->spec = specs[i];
    if (!openStream(fresh[i].get(), error)) return false;
  }
  // Then the new set: kept streams (same name and ingest) keep their RTP sequence and take the new profile.
  std::vector<std::unique_ptr<Stream>> next;
  for (size_t i = 0; i < specs.size(); i++) {
    if (fresh[i]) {
      next.push_back(std::move(fresh[i]));
      continue;
    }
    for (auto& old : streams_) {
      if (old && same(old->spec, specs[i])) {
        old->spec.profile = specs[i].profile;
        old->renderer.setProfile(specs[i].profile);
        if (specs[i].bitrate != old->spec.bitrate) {
          old->spec.bitrate = specs[i].bitrate;
          opus_encoder_ctl(old->enc, OPUS_SET_BITRATE(specs[i].bitrate));
        }
        next.push_back(std::move(old));
        break;
      }
    }
  }
  streams_ = std::move(next);
  wantStems_ = false;
  for (const StreamSpec& sp : specs) wantStems_ = wantStems_ || stemmed(sp.profile);
  wantStems_ = wantStems_ && sep_ != nullptr;
  engine_->setMixTapMics(wantStems_);
  return true;
}

void Streamer::start() {
  if (running_.load()) return;
  stop_.store(false);
  running_.store(true);
  engine_->setMixTap(true);
  thread_ = std::thread([this] { threadMain(); });
}

void Streamer::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  thread_.join();
  engine_->setMixTap(false);
  engine_->setMixTapMics(false);
  running_.store(false);
}

void Streamer::threadMain() {
  TapChunk c;
  while (!stop_.load(std::memory_order_acquire)) {
    bool any = false;
    while (engine_->popMixTap(&c)) {
      any = true;
      chunks_.fetch_add(1, std::memory_order_relaxed);
      // A dropped record shows as a jump in the block counter; the frame goes on (a glitch on
      // the listeners' side, nothing on the PA's).
      if (haveBlock_ && c.block > nextBlock_ + 1) gaps_.fetch_add(1, std::memory_order_relaxed);
      nextBlock_ = c.block;
      haveBlock_ = true;
      accOutputs_ = c.outputs;
      int at = 0;
      while (at < c.frames) {
        const int m = std::min(c.frames - at, frameSamples_ - accFill_);
        for (int k = 0; k < c.outputs; k++) std::memcpy(acc_[k].data() + accFill_, c.out[k] + at, sizeof(float) * m);
        std::memcpy(acc_[kTapOutputs].data() + accFill_, c.bed + at, sizeof(float) * m);
        // Mics the record lacks (the tap switched them on mid-frame) are silence.
        for (int k = 0; k < sepMics_; k++) {
          if (k < c.mics) std::memcpy(micAcc_[k].data() + accFill_, c.mic[k] + at, sizeof(float) * m);
          else std::memset(micAcc_[k].data() + accFill_, 0, sizeof(float) * m);
        }
        accFill_ += m;
        at += m;
        if (accFill_ == frameSamples_) {
          encodeFrame();
          accFill_ = 0;
        }
      }
    }
    if (!any) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void Streamer::encodeFrame() {
  frames_.fetch_add(1, std::memory_order_relaxed);
  const float* outs[kTapOutputs];
  for (int k = 0; k < kTapOutputs; k++) outs[k] = acc_[k].data();
  std::lock_guard<std::mutex> lock(mu_);
  const float* stems[kMaxStems] = {};
  if (wantStems_) {
    const float* mics[kTapMics];
    float* st[kMaxStems];
    for (int k = 0; k < sepMics_; k++) mics[k] = micAcc_[k].data();
    for (int j = 0; j < kMaxStems; j++) st[j] = stems_[j].data();
    const double t0 = threadCpuUs();
    sep_->process(mics, st, nullptr, nullptr, frameSamples_, &Streamer::onHop, this);
    sepCpuUs_.store(sepCpuUs_.load(std::memory_order_relaxed) + (threadCpuUs() - t0), std::memory_order_relaxed);
    for (int j = 0; j < kMaxStems; j++) stems[j] = stems_[j].data();
    separated_.fetch_add(1, std::memory_order_relaxed);
  }
  for (auto& sp : streams_) {
    Stream& s = *sp;
    const double t0 = threadCpuUs();
    s.renderer.process(outs, accOutputs_, acc_[kTapOutputs].data(), frameSamples_, left_.data(), right_.data(), wantStems_ ? stems : nullptr,
                       kMaxStems);
    for (int i = 0; i < frameSamples_; i++) {
      inter_[2 * i] = left_[i];
      inter_[2 * i + 1] = right_[i];
    }
    unsigned char* p = packet_.data();
    const int n = opus_encode_float(s.enc, inter_.data(), frameSamples_, p + 12, kMaxPacket - 12);
    if (n < 0) {
      s.st.encodeErrors++;
    } else {
      p[0] = 0x80;
      p[1] = static_cast<unsigned char>((s.first ? 0x80 : 0) | kPayloadType);
      p[2] = static_cast<unsigned char>(s.seq >> 8);
      p[3] = static_cast<unsigned char>(s.seq);
      p[4] = static_cast<unsigned char>(s.ts >> 24);
      p[5] = static_cast<unsigned char>(s.ts >> 16);
      p[6] = static_cast<unsigned char>(s.ts >> 8);
      p[7] = static_cast<unsigned char>(s.ts);
      p[8] = static_cast<unsigned char>(s.spec.ssrc >> 24);
      p[9] = static_cast<unsigned char>(s.spec.ssrc >> 16);
      p[10] = static_cast<unsigned char>(s.spec.ssrc >> 8);
      p[11] = static_cast<unsigned char>(s.spec.ssrc);
      const ssize_t sent = ::send(s.fd, p, static_cast<size_t>(n + 12), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent < 0) {
        s.st.sendErrors++;
        s.st.lastErrno = errno;
      } else {
        s.st.packets++;
        s.st.bytes += static_cast<uint64_t>(sent);
        s.first = false;
      }
    }
    s.seq++;
    s.ts += static_cast<uint32_t>(frameSamples_);
    s.st.cpuUs += threadCpuUs() - t0;
  }
}

StreamerStats Streamer::stats() {
  StreamerStats out;
  out.chunks = chunks_.load();
  out.frames = frames_.load();
  out.gaps = gaps_.load();
  out.tapDrops = engine_->droppedMixTap();
  out.running = running_.load();
  out.separated = separated_.load();
  out.separatorCpuUs = sepCpuUs_.load();
  out.separator = sep_ != nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& s : streams_) out.streams.push_back(s->st);
  return out;
}

}  // namespace mix
