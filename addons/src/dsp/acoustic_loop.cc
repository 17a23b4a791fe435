#pragma GCC optimize("O3")
#include "dsp/acoustic_loop.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace dsp {

namespace {
constexpr int kSub = 64;  // the loop runs in sub-blocks no longer than this and the shortest path
constexpr int kHistorySlack = 16384;
}  // namespace

AcousticLoop::AcousticLoop(double sampleRate, const RoomSpec& r, double gainDb)
    : fs_(sampleRate), notches_(sampleRate, kNotches), band_(sampleRate, 2), shift_(sampleRate) {
  RoomResponse room = buildRoomResponse(sampleRate, r);
  const int len = static_cast<int>(room.h.size());
  h_ = std::move(room.h);
  tapDelay_ = std::move(room.delay);
  tapGain_ = std::move(room.gain);
  minDelay_ = room.minDelay;
  criticalHz_ = room.criticalHz;
  band_.setBand(0, BandParams{BandType::HighPass, kPaHighPassHz, 0.0, 0.7071, true});
  band_.setBand(1, BandParams{BandType::LowPass, kPaLowPassHz, 0.0, 0.7071, true});
  band_.reset();
  // The loudspeaker's history, linear: [w_ - len, w_) are the past samples; when the write index
  // reaches the end, the last len samples move to the front (once every kHistorySlack samples).
  histLen_ = len;
  hist_.assign(static_cast<size_t>(len) + kHistorySlack, 0.0f);
  w_ = static_cast<uint32_t>(len);
  fb_.assign(kSub, 0.0f);
  buf_.assign(kSub, 0.0f);
  notches_.reset();
  setGainDb(gainDb);
}

void AcousticLoop::setGainDb(double db) noexcept {
  if (std::isfinite(db)) gain_ = std::pow(10.0, db / 20);
}

void AcousticLoop::process(const float* src, float* mic, float* spk, int n, float* pre) noexcept {
  const int sub = std::min(kSub, minDelay_);
  const float g = static_cast<float>(gain_);
  const size_t taps = tapDelay_.size();
  for (int start = 0, m = 0; start < n; start += m) {
    m = std::min({sub, n - start, afc_ ? afc_->untilBlockEnd() : sub});
    if (w_ + static_cast<uint32_t>(m) > hist_.size()) {
      std::copy(hist_.end() - histLen_, hist_.end(), hist_.begin());
      w_ = static_cast<uint32_t>(histLen_);
    }
    // Every tap is at least `sub` samples long, so this sub-block's feedback depends only on
    // loudspeaker samples already made; tap by tap, the inner loop runs along contiguous memory.
    float* fb = fb_.data();
    for (int i = 0; i < m; ++i) fb[i] = 0.0f;
    for (size_t t = 0; t < taps; ++t) {
      const float a = tapGain_[t];
      const float* h = hist_.data() + w_ - tapDelay_[t];
      for (int i = 0; i < m; ++i) fb[i] += a * h[i];
    }
    for (int i = 0; i < m; ++i) {
      const float x = src[start + i] + fb[i];
      mic[start + i] = x;
      buf_[i] = x;
    }
    if (afc_) afc_->cancel(buf_.data(), m);
    if (pre) std::copy(buf_.begin(), buf_.begin() + m, pre + start);
    notches_.process(buf_.data(), m);
    shift_.process(buf_.data(), m);
    for (int i = 0; i < m; ++i) buf_[i] *= g;
    band_.process(buf_.data(), m);
    for (int i = 0; i < m; ++i) {
      const float y = std::tanh(buf_[i]);
      spk[start + i] = y;
      hist_[w_ + static_cast<uint32_t>(i)] = y;
    }
    if (afc_) afc_->feed(spk + start, m);
    w_ += static_cast<uint32_t>(m);
  }
}

}  // namespace dsp
