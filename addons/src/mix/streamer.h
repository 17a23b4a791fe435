// The personal-mix streamer: one worker thread (normal priority, never the audio thread) that
// drains the engine's mix tap (mix/tap.h), renders every published profile (mix/render.h),
// encodes each with libopus (OPUS_APPLICATION_RESTRICTED_LOWDELAY, 48 kHz stereo, 10 or 20 ms
// frames) and sends it as RTP (payload type 111) over UDP to a media server's ingest (Janus's
// streaming plugin). The unit never serves listeners itself.
//
// Failure stays here: a dead ingest shows as send errors (the socket is connected, so the
// kernel reports ICMP port-unreachable as ECONNREFUSED), a late thread as tap drops; the engine
// never waits for either. Profiles change under a mutex shared only by the control thread and
// this worker. The constructor, start, setProfiles and stop may allocate; the worker allocates
// only when profiles change.
//
// Separated sources (issue 17): on an engine with an array the streamer owns one
// sep::BeamSeparator (kMaxStems beams, each with its post-filter) over the tapped mics. While a
// published profile gives a stem slot a gain, the tap carries the mics and each frame runs the
// separator once; every stream mixes the slots' stems at its own gains. Where each slot points
// comes from the control thread through a seqlock (setDirections: no lock shared with the
// worker), read by the worker before each separator hop. The PA path is untouched: the
// separator's beams are the streamer's own, never the engine's.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mix/render.h"
#include "sep/beam_separator.h"

namespace engine {
class Engine;
}

namespace mix {

struct StreamSpec {
  std::string name;
  Profile profile;
  std::string host = "127.0.0.1";  // IPv4 address of the ingest
  int port = 0;
  uint32_t ssrc = 0;
  int bitrate = 96000;
};

struct StreamStats {
  std::string name;
  uint64_t packets = 0, bytes = 0, sendErrors = 0, encodeErrors = 0;
  int lastErrno = 0;
  double cpuUs = 0;  // worker CPU time spent rendering + encoding + sending this stream
};

struct StreamerStats {
  uint64_t chunks = 0, frames = 0, tapDrops = 0, gaps = 0;
  uint64_t separated = 0;  // frames the separator ran on (a profile used a tracked source)
  bool running = false;
  bool separator = false;  // this engine has an array: tracked sources can be separated
  double separatorCpuUs = 0;  // worker CPU time spent in the separator
  std::vector<StreamStats> streams;
};

class Streamer {
 public:
  // frameMs: 10 or 20. Throws std::invalid_argument on a bad frame size.
  Streamer(engine::Engine* engine, int sampleRate, int frameMs);
  ~Streamer();
  Streamer(const Streamer&) = delete;
  Streamer& operator=(const Streamer&) = delete;

  // Replaces the published set (streams keep their RTP sequence when the name and port stay).
  // False with *error on a bad spec (nothing changed).
  bool setStreams(const std::vector<StreamSpec>& specs, std::string* error);
  void start();
  void stop();
  StreamerStats stats();
  // Where each stem slot points from the next separator hop on (degrees; an inactive slot is
  // silent). Lock-free, wait-free for the writer; one writer (the control thread).
  void setDirections(const double* azDeg, const double* elDeg, const bool* active, int n) noexcept;

 private:
  struct Stream;
  void threadMain();
  void encodeFrame();
  bool openStream(Stream* s, std::string* error);

  void readDirections() noexcept;
  static void onHop(void* self) noexcept;

  engine::Engine* engine_;
  // The separator and its frame buffers: the mics as tapped, the stems it writes.
  std::unique_ptr<sep::BeamSeparator> sep_;
  int sepMics_ = 0;
  int accMics_ = 0;
  std::vector<std::vector<float>> micAcc_, stems_;
  bool wantStems_ = false;  // under mu_: some stream gives a stem a gain
  // The direction mailbox (seqlock): odd seq while the writer is in the middle.
  std::atomic<uint32_t> dirSeq_{0};
  std::atomic<double> dirAz_[kMaxStems], dirEl_[kMaxStems];
  std::atomic<bool> dirOn_[kMaxStems];
  double az_[kMaxStems] = {}, el_[kMaxStems] = {};
  bool on_[kMaxStems] = {};
  std::atomic<uint64_t> separated_{0};
  std::atomic<double> sepCpuUs_{0};
  int rate_, frameSamples_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<std::vector<float>> acc_;  // kTapOutputs + bed, frameSamples_ each
  int accFill_ = 0, accOutputs_ = 0;
  uint64_t nextBlock_ = 0;
  bool haveBlock_ = false;
  std::vector<float> left_, right_, inter_;
  std::vector<unsigned char> packet_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, running_{false};
  std::atomic<uint64_t> chunks_{0}, frames_{0}, gaps_{0};
};

}  // namespace mix
