// The file backend: a WAV file in, a WAV file out, as fast as the chain runs (no pacing). The
// offline `firmware process` tool and the engine tests use it.
//
// The WAV reader and writer convert through buffers they allocate at open, and this backend reads
// and writes in pieces of 4096 frames through buffers sized at open (a system call per piece, not
// per block), so read()/write() allocate nothing. The input is read ahead on a thread of its own
// (up to kPieces pieces: reading, converting and metering them off the audio thread, which then
// only copies), handed over through two counters and a futex each way: no lock, no busy wait. It meters what it reads and what it writes
// (inputLevels/outputLevels) for the offline report. The output
// appears at its path only when the whole input was processed and close() commits it; a stopped
// or failed run leaves no partial file behind.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

#include "../wav.h"
#include "../wav_join.h"
#include "backend.h"

namespace engine {

namespace {

// Sleep while *word == seen; wake every sleeper. The other side always wakes a sleeper it sees
// (and close() wakes the reader), so the 20 ms bound is only a safety net: a reader waiting for
// room while the audio thread waits for the analysers does not wake 500 times a second.
void futexWait(std::atomic<uint32_t>* word, uint32_t seen) noexcept {
  const timespec ts{0, 20'000'000};
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, seen, &ts, nullptr, 0);
}
void futexWake(std::atomic<uint32_t>* word) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

class FileBackend final : public Backend {
 public:
  explicit FileBackend(const EngineConfig& c) : cfg_(c) {}
  ~FileBackend() override { stopReading(); }

  bool open(std::string* error) override {
    if (cfg_.inPath.empty() && cfg_.inColumns.empty()) {
      *error = "the file backend needs an input WAV path (inPath)";
      return false;
    }
    const std::vector<std::vector<std::string>> columns =
        cfg_.inColumns.empty() ? std::vector<std::vector<std::string>>{{cfg_.inPath}} : cfg_.inColumns;
    reader_ = wav::Joined::open(columns, error, nullptr, 4096);
    if (!reader_) return false;
    const wav::Info& in = reader_->info();
    if (in.channels != cfg_.inputs) {
      *error = cfg_.inPath + ": has " + std::to_string(in.channels) + " channel(s) but the engine expects " +
               std::to_string(cfg_.inputs) + " input(s)";
      return false;
    }
    end_ = cfg_.inTo >= 0 && cfg_.inTo < in.frames ? cfg_.inTo : in.frames;
    if (cfg_.inFrom < 0 || cfg_.inFrom >= end_) {
      *error = "the part to process (frames " + std::to_string(cfg_.inFrom) + " to " + std::to_string(end_) + ") is empty";
      return false;
    }
    if (cfg_.inFrom > 0 && !reader_->seek(cfg_.inFrom)) {
      *error = std::string("cannot seek in the input: ") + reader_->lastError();
      return false;
    }
    pos_ = cfg_.inFrom;
    if (in.sampleRate != cfg_.sampleRate) {
      *error = cfg_.inPath + ": sample rate is " + std::to_string(in.sampleRate) + " Hz but the engine runs at " +
               std::to_string(cfg_.sampleRate) + " Hz";
      return false;
    }
    if (!cfg_.outPath.empty()) {
      wav::Info out;
      out.channels = cfg_.outputs;
      out.sampleRate = cfg_.sampleRate;
      if (!wav::parseFormat(cfg_.outFormat, &out.format)) {
        *error = "unknown output format \"" + cfg_.outFormat + "\"; use pcm16, pcm24, pcm32 or float32";
        return false;
      }
      writer_ = wav::Writer::create(cfg_.outPath, out, error);
      if (!writer_) return false;
    }
    inBuf_.assign(static_cast<size_t>(cfg_.inputs) * kIoFrames * kPieces, 0.0f);
    outBuf_.assign(static_cast<size_t>(cfg_.outputs) * kIoFrames, 0.0f);
    stored_.assign(static_cast<size_t>(cfg_.outputs) * kIoFrames, 0.0f);
    inLevels_.reset(cfg_.inputs);
    outLevels_.reset(cfg_.outputs);
    try {
      readerThread_ = std::thread([this] { readAhead(); });
    } catch (const std::exception& e) {
      *error = std::string("could not start the input reader thread: ") + e.what();
      return false;
    }
    return true;
  }

  int read(float* const* in, int frames) noexcept override {
    if (ioFailed_) return -1;
    const int channels = cfg_.inputs;
    int n = 0;
    while (n < frames && pos_ < end_) {
      if (inAt_ == inHave_ && !refill()) return -1;
      const int k = static_cast<int>(std::min<int64_t>(frames - n, inHave_ - inAt_));
      const float* src = cur_ + static_cast<size_t>(inAt_) * channels;
      for (int ch = 0; ch < channels; ch++) {
        float* y = in[ch] + n;
        for (int i = 0; i < k; i++) y[i] = src[static_cast<size_t>(i) * channels + ch];
      }
      inAt_ += k;
      pos_ += k;
      n += k;
    }
    for (int ch = 0; ch < channels; ch++) {
      for (int i = n; i < frames; i++) in[ch][i] = 0.0f;
    }
    if (pos_ >= end_) inputDone_ = true;
    return n;
  }

  bool write(const float* const* out, int frames) noexcept override {
    if (!writer_) return true;
    const int channels = cfg_.outputs;
    if (outHave_ + frames > kIoFrames && !flush()) return false;
    float* dst = outBuf_.data() + static_cast<size_t>(outHave_) * channels;
    for (int ch = 0; ch < channels; ch++) {
      const float* x = out[ch];
      for (int i = 0; i < frames; i++) dst[static_cast<size_t>(i) * channels + ch] = x[i];
    }
    outHave_ += frames;
    return true;
  }

  // Complete once the reader thread has ended (close(); the engine reads them after stop()).
  const wav::Levels* inputLevels() const noexcept override { return &inLevels_; }
  const wav::Levels* outputLevels() const noexcept override { return cfg_.outPath.empty() ? nullptr : &outLevels_; }

  bool close(std::string* error) override {
    stopReading();
    reader_.reset();
    if (!writer_) return true;
    std::unique_ptr<wav::Writer> w = std::move(writer_);
    if (ioFailed_) {
      *error = cfg_.outPath + ": " + w->lastError();
      w->abort();
      return false;
    }
    if (!inputDone_) {
      // Stopped before the end: the caller asked for the whole file, so leave nothing behind.
      w->abort();
      return true;
    }
    writer_ = std::move(w);
    const bool flushed = flush();
    w = std::move(writer_);
    if (!flushed) {
      *error = cfg_.outPath + ": " + w->lastError();
      w->abort();
      return false;
    }
    return w->close(error);
  }

  int64_t totalFrames() const noexcept override { return reader_ ? end_ - cfg_.inFrom : -1; }

 private:
  // Frames per read from the input and per write to the output: the file is read and written in
  // pieces of this size, not a system call per block (and per file of a multitrack) per block.
  static constexpr int64_t kIoFrames = 4096;

  // Pieces of the input read ahead: the reader thread may be this many pieces ahead of read().
  static constexpr uint32_t kPieces = 4;

  // The reader thread: reads the part piece by piece into the free slots, meters each piece
  // (in file order, so the levels are those of one sequential read), and publishes it.
  void readAhead() noexcept {
    int64_t pos = pos_;
    for (uint32_t n = 0; pos < end_; n++) {
      for (;;) {
        if (stopReader_.load(std::memory_order_acquire)) return;
        const uint32_t taken = taken_.load(std::memory_order_seq_cst);
        if (n - taken < kPieces) break;
        readerSleeping_.store(1, std::memory_order_seq_cst);
        if (n - taken_.load(std::memory_order_seq_cst) >= kPieces) futexWait(&taken_, taken);
        readerSleeping_.store(0, std::memory_order_relaxed);
      }
      const uint32_t slot = n % kPieces;
      float* buf = inBuf_.data() + static_cast<size_t>(slot) * cfg_.inputs * kIoFrames;
      const int64_t got = reader_->read(buf, std::min<int64_t>(kIoFrames, end_ - pos));
      if (got > 0) inLevels_.add(buf, got);
      pieceFrames_[slot] = got > 0 ? got : -1;
      filled_.store(n + 1, std::memory_order_seq_cst);
      if (consumerSleeping_.load(std::memory_order_seq_cst)) futexWake(&filled_);
      if (got <= 0) return;
      pos += got;
    }
  }

  void stopReading() noexcept {
    if (!readerThread_.joinable()) return;
    stopReader_.store(true, std::memory_order_release);
    futexWake(&taken_);
    readerThread_.join();
  }

  // Hands the piece read() finished back to the reader thread and takes the next one (waiting
  // for the reader thread if it is not in yet).
  bool refill() noexcept {
    if (holding_) {
      holding_ = false;
      taken_.fetch_add(1, std::memory_order_seq_cst);
      if (readerSleeping_.load(std::memory_order_seq_cst)) futexWake(&taken_);
    }
    const uint32_t next = taken_.load(std::memory_order_relaxed);
    for (;;) {
      const uint32_t filled = filled_.load(std::memory_order_seq_cst);
      if (filled != next) break;
      consumerSleeping_.store(1, std::memory_order_seq_cst);
      if (filled_.load(std::memory_order_seq_cst) == next) futexWait(&filled_, filled);
      consumerSleeping_.store(0, std::memory_order_relaxed);
    }
    const uint32_t slot = next % kPieces;
    const int64_t got = pieceFrames_[slot];
    if (got <= 0) {
      ioFailed_ = true;
      return false;
    }
    holding_ = true;
    cur_ = inBuf_.data() + static_cast<size_t>(slot) * cfg_.inputs * kIoFrames;
    inHave_ = got;
    inAt_ = 0;
    return true;
  }

  // Writes the buffered output and meters it as the file stores it (PCM quantised).
  bool flush() noexcept {
    if (outHave_ == 0) return true;
    if (!writer_->write(outBuf_.data(), outHave_)) {
      ioFailed_ = true;
      return false;
    }
    wav::asStored(outBuf_.data(), stored_.data(), outHave_ * cfg_.outputs, writer_->info().format);
    outLevels_.add(stored_.data(), outHave_);
    outHave_ = 0;
    return true;
  }

  EngineConfig cfg_;
  std::unique_ptr<wav::Joined> reader_;
  std::unique_ptr<wav::Writer> writer_;
  std::vector<float> inBuf_, outBuf_;  // interleaved pieces of the input (kPieces slots) and output
  const float* cur_ = nullptr;         // the input piece read() is taking frames from
  bool holding_ = false;               // cur_ is a slot the reader thread must not refill yet
  int64_t inHave_ = 0, inAt_ = 0;      // frames in cur_, frames of it delivered
  // The read-ahead: pieces published by the reader thread (filled_) and handed back by read()
  // (taken_); slot n % kPieces holds piece n and its frame count (-1: the read failed).
  std::thread readerThread_;
  int64_t pieceFrames_[kPieces] = {};
  std::atomic<uint32_t> filled_{0}, taken_{0};
  std::atomic<uint32_t> readerSleeping_{0}, consumerSleeping_{0};
  std::atomic<bool> stopReader_{false};
  int64_t outHave_ = 0;                // frames in outBuf_ not yet written
  std::vector<float> stored_;          // outBuf_ as the file stores it, for its levels
  wav::Levels inLevels_, outLevels_;
  int64_t pos_ = 0, end_ = 0;  // input frames: next to read, one past the last to process
  bool inputDone_ = false;
  bool ioFailed_ = false;
};

}  // namespace

std::unique_ptr<Backend> makeFileBackend(const EngineConfig& config) { return std::make_unique<FileBackend>(config); }

}  // namespace engine
