// The file backend: a WAV file in, a WAV file out, as fast as the chain runs (no pacing). The
// offline `firmware process` tool and the engine tests use it.
//
// The WAV reader and writer convert through buffers they allocate at open, and this backend
// interleaves through one buffer sized at open, so read()/write() allocate nothing. The output
// appears at its path only when the whole input was processed and close() commits it; a stopped
// or failed run leaves no partial file behind.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../wav.h"
#include "../wav_join.h"
#include "backend.h"

namespace engine {

namespace {

class FileBackend final : public Backend {
 public:
  explicit FileBackend(const EngineConfig& c) : cfg_(c) {}

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
    interleaved_.assign(static_cast<size_t>(std::max(cfg_.inputs, cfg_.outputs)) * cfg_.blockSize, 0.0f);
    stored_.assign(static_cast<size_t>(cfg_.outputs) * cfg_.blockSize, 0.0f);
    inLevels_.reset(cfg_.inputs);
    outLevels_.reset(cfg_.outputs);
    return true;
  }

  int read(float* const* in, int frames) noexcept override {
    if (ioFailed_) return -1;
    const int64_t want = frames < end_ - pos_ ? frames : end_ - pos_;
    const int64_t got = want > 0 ? reader_->read(interleaved_.data(), want) : 0;
    if (got < 0) {
      ioFailed_ = true;
      return -1;
    }
    const int n = static_cast<int>(got);
    const int channels = cfg_.inputs;
    inLevels_.add(interleaved_.data(), n);
    for (int ch = 0; ch < channels; ch++) {
      float* y = in[ch];
      for (int i = 0; i < n; i++) y[i] = interleaved_[static_cast<size_t>(i) * channels + ch];
      for (int i = n; i < frames; i++) y[i] = 0.0f;
    }
    pos_ += n;
    if (pos_ >= end_) inputDone_ = true;
    return n;
  }

  bool write(const float* const* out, int frames) noexcept override {
    if (!writer_) return true;
    const int channels = cfg_.outputs;
    for (int ch = 0; ch < channels; ch++) {
      const float* x = out[ch];
      for (int i = 0; i < frames; i++) interleaved_[static_cast<size_t>(i) * channels + ch] = x[i];
    }
    if (!writer_->write(interleaved_.data(), frames)) {
      ioFailed_ = true;
      return false;
    }
    // The output's meters as the file holds it (PCM quantised), without reading it back.
    const int64_t values = static_cast<int64_t>(frames) * channels;
    wav::asStored(interleaved_.data(), stored_.data(), values, writer_->info().format);
    outLevels_.add(stored_.data(), frames);
    return true;
  }

  const wav::Levels* inputLevels() const noexcept override { return &inLevels_; }
  const wav::Levels* outputLevels() const noexcept override { return cfg_.outPath.empty() ? nullptr : &outLevels_; }

  bool close(std::string* error) override {
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
    return w->close(error);
  }

  int64_t totalFrames() const noexcept override { return reader_ ? end_ - cfg_.inFrom : -1; }

 private:
  EngineConfig cfg_;
  std::unique_ptr<wav::Joined> reader_;
  std::unique_ptr<wav::Writer> writer_;
  std::vector<float> interleaved_;
  std::vector<float> stored_;       // the output block as the file stores it, for its levels
  wav::Levels inLevels_, outLevels_;
  int64_t pos_ = 0, end_ = 0;  // input frames: next to read, one past the last to process
  bool inputDone_ = false;
  bool ioFailed_ = false;
};

}  // namespace

std::unique_ptr<Backend> makeFileBackend(const EngineConfig& config) { return std::make_unique<FileBackend>(config); }

}  // namespace engine
