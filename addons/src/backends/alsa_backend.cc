// The ALSA backend: libasound capture and playback, interleaved read/write, one period per
// engine block. The audio thread blocks only inside snd_pcm_readi/snd_pcm_writei (the device's
// own pacing). Over- and underruns are recovered with snd_pcm_recover and counted, never fatal.
//
// Sample format: 32-bit float where the device takes it, else S32, else S16; the conversion
// buffers are allocated in open(), so read()/write() allocate nothing.
#include <alsa/asoundlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend.h"

namespace engine {

namespace {

struct Pcm {
  snd_pcm_t* handle = nullptr;
  snd_pcm_format_t format = SND_PCM_FORMAT_FLOAT_LE;
  int channels = 0;
};

class AlsaBackend final : public Backend {
 public:
  explicit AlsaBackend(const EngineConfig& c) : cfg_(c) {}
  ~AlsaBackend() override { closeHandles(); }

  bool open(std::string* error) override {
    if (cfg_.captureDevice.empty() || cfg_.playbackDevice.empty()) {
      *error = "the alsa backend needs a capture and a playback device";
      return false;
    }
    if (!openPcm(&capture_, cfg_.captureDevice, SND_PCM_STREAM_CAPTURE, cfg_.inputs, error)) return false;
    if (!openPcm(&playback_, cfg_.playbackDevice, SND_PCM_STREAM_PLAYBACK, cfg_.outputs, error)) {
      closeHandles();
      return false;
    }
    const size_t maxCh = static_cast<size_t>(std::max(cfg_.inputs, cfg_.outputs));
    bytes_.assign(maxCh * cfg_.blockSize * 4, 0);
    silence_.assign(static_cast<size_t>(cfg_.outputs) * cfg_.blockSize * 4, 0);
    prefill();
    return true;
  }

  int read(float* const* in, int frames) noexcept override {
    int got = 0;
    while (got < frames) {
      const size_t offset = static_cast<size_t>(got) * capture_.channels * sampleBytes(capture_.format);
      const snd_pcm_sframes_t r = snd_pcm_readi(capture_.handle, bytes_.data() + offset, frames - got);
      if (r > 0) {
        got += static_cast<int>(r);
        continue;
      }
      if (r == 0 || r == -EAGAIN) continue;
      if (!recover(capture_.handle, static_cast<int>(r))) return -1;
    }
    deinterleave(in, frames);
    return frames;
  }

  bool write(const float* const* out, int frames) noexcept override {
    interleave(out, frames);
    int put = 0;
    while (put < frames) {
      const size_t offset = static_cast<size_t>(put) * playback_.channels * sampleBytes(playback_.format);
      const snd_pcm_sframes_t r = snd_pcm_writei(playback_.handle, bytes_.data() + offset, frames - put);
      if (r > 0) {
        put += static_cast<int>(r);
        continue;
      }
      if (r == 0 || r == -EAGAIN) continue;
      if (!recover(playback_.handle, static_cast<int>(r))) return false;
      // An underrun emptied the buffer: restore the headroom, so the latency after the xrun
      // is the same as before it.
      prefill();
    }
    return true;
  }

  uint64_t xruns() const noexcept override { return xruns_.load(std::memory_order_relaxed); }

  bool close(std::string* error) override {
    if (playback_.handle) snd_pcm_drain(playback_.handle);
    closeHandles();
    return true;
  }

 private:
  static int sampleBytes(snd_pcm_format_t f) noexcept { return f == SND_PCM_FORMAT_S16_LE ? 2 : 4; }

  // periods - 1 periods of silence ahead of the first (or first post-xrun) block: the headroom
  // the capture side needs to deliver a block before playback runs dry.
  void prefill() noexcept {
    for (int p = 0; p + 1 < cfg_.alsaPeriods; p++) snd_pcm_writei(playback_.handle, silence_.data(), cfg_.blockSize);
  }

  bool openPcm(Pcm* pcm, const std::string& name, snd_pcm_stream_t stream, int channels, std::string* error) {
    const char* what = stream == SND_PCM_STREAM_CAPTURE ? "capture" : "playback";
    int err = snd_pcm_open(&pcm->handle, name.c_str(), stream, 0);
    if (err < 0) {
      pcm->handle = nullptr;
      *error = std::string("unknown or unavailable ALSA ") + what + " device \"" + name + "\": " + snd_strerror(err);
      return false;
    }
    snd_pcm_hw_params_t* hw;
    snd_pcm_hw_params_alloca(&hw);
    snd_pcm_hw_params_any(pcm->handle, hw);
    auto fail = [&](const char* step, int code) {
      *error = std::string("ALSA ") + what + " device \"" + name + "\": cannot set " + step + ": " + snd_strerror(code);
      return false;
    };
    if ((err = snd_pcm_hw_params_set_access(pcm->handle, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0) return fail("interleaved access", err);
    const snd_pcm_format_t formats[] = {SND_PCM_FORMAT_FLOAT_LE, SND_PCM_FORMAT_S32_LE, SND_PCM_FORMAT_S16_LE};
    err = -EINVAL;
    for (snd_pcm_format_t f : formats) {
      if (snd_pcm_hw_params_test_format(pcm->handle, hw, f) == 0) {
        err = snd_pcm_hw_params_set_format(pcm->handle, hw, f);
        pcm->format = f;
        break;
      }
    }
    if (err < 0) return fail("a sample format (float, S32 or S16)", err);
    if ((err = snd_pcm_hw_params_set_channels(pcm->handle, hw, channels)) < 0) return fail((std::to_string(channels) + " channels").c_str(), err);
    pcm->channels = channels;
    if ((err = snd_pcm_hw_params_set_rate(pcm->handle, hw, cfg_.sampleRate, 0)) < 0) return fail((std::to_string(cfg_.sampleRate) + " Hz").c_str(), err);
    snd_pcm_uframes_t period = cfg_.blockSize;
    int dir = 0;
    if ((err = snd_pcm_hw_params_set_period_size_near(pcm->handle, hw, &period, &dir)) < 0) return fail("the period size", err);
    snd_pcm_uframes_t buffer = period * std::max(2, cfg_.alsaPeriods);
    if ((err = snd_pcm_hw_params_set_buffer_size_near(pcm->handle, hw, &buffer)) < 0) return fail("the buffer size", err);
    if ((err = snd_pcm_hw_params(pcm->handle, hw)) < 0) return fail("the hardware parameters", err);
    if ((err = snd_pcm_prepare(pcm->handle)) < 0) return fail("prepare", err);
    return true;
  }

  // Over/underrun (-EPIPE) or suspend (-ESTRPIPE): recover, count, and carry on.
  bool recover(snd_pcm_t* h, int err) noexcept {
    if (err == -EPIPE || err == -ESTRPIPE || err == -EINTR) xruns_.fetch_add(1, std::memory_order_relaxed);
    return snd_pcm_recover(h, err, 1) >= 0;
  }

  void deinterleave(float* const* in, int frames) noexcept {
    const int ch = capture_.channels;
    if (capture_.format == SND_PCM_FORMAT_FLOAT_LE) {
      const float* s = reinterpret_cast<const float*>(bytes_.data());
      for (int c = 0; c < ch; c++)
        for (int i = 0; i < frames; i++) in[c][i] = s[i * ch + c];
    } else if (capture_.format == SND_PCM_FORMAT_S32_LE) {
      const int32_t* s = reinterpret_cast<const int32_t*>(bytes_.data());
      for (int c = 0; c < ch; c++)
        for (int i = 0; i < frames; i++) in[c][i] = static_cast<float>(s[i * ch + c] / 2147483648.0);
    } else {
      const int16_t* s = reinterpret_cast<const int16_t*>(bytes_.data());
      for (int c = 0; c < ch; c++)
        for (int i = 0; i < frames; i++) in[c][i] = s[i * ch + c] / 32768.0f;
    }
  }

  void interleave(const float* const* out, int frames) noexcept {
    const int ch = playback_.channels;
    if (playback_.format == SND_PCM_FORMAT_FLOAT_LE) {
      float* d = reinterpret_cast<float*>(bytes_.data());
      for (int c = 0; c < ch; c++)
        for (int i = 0; i < frames; i++) d[i * ch + c] = out[c][i];
    } else if (playback_.format == SND_PCM_FORMAT_S32_LE) {
      int32_t* d = reinterpret_cast<int32_t*>(bytes_.data());
      for (int c = 0; c < ch; c++)
        for (int i = 0; i < frames; i++) {
          const double v = std::clamp(static_cast<double>(out[c][i]), -1.0, 1.0) * 2147483647.0;
          d[i * ch + c] = static_cast<int32_t>(std::lrint(v));
        }
    } else {
      int16_t* d = reinterpret_cast<int16_t*>(bytes_.data());
      for (int c = 0; c < ch; c++)
        for (int i = 0; i < frames; i++) d[i * ch + c] = static_cast<int16_t>(std::lrint(std::clamp(out[c][i], -1.0f, 1.0f) * 32767.0f));
    }
  }

  void closeHandles() noexcept {
    if (capture_.handle) snd_pcm_close(capture_.handle);
    if (playback_.handle) snd_pcm_close(playback_.handle);
    capture_.handle = nullptr;
    playback_.handle = nullptr;
  }

  EngineConfig cfg_;
  Pcm capture_, playback_;
  std::vector<unsigned char> bytes_;
  std::vector<unsigned char> silence_;  // one period of zeros in the playback format (all formats: zero bits)
  std::atomic<uint64_t> xruns_{0};
};

}  // namespace

std::unique_ptr<Backend> makeAlsaBackend(const EngineConfig& config) { return std::make_unique<AlsaBackend>(config); }

}  // namespace engine
