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
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mix/render.h"

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
  bool running = false;
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

 private:
  struct Stream;
  void threadMain();
  void encodeFrame();
  bool openStream(Stream* s, std::string* error);

  engine::Engine* engine_;
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
