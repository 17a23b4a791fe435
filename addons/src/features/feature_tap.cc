#include "features/feature_tap.h"

#include <thread>

namespace features {

void FeatureTap::publish() noexcept {
  if (stop_) {
    uint32_t index;
    for (int32_t filled = ring_.getWriteIndex(&index); filled >= 0 && static_cast<uint32_t>(filled) >= ring_.capacity() &&
                                                      !stop_->load(std::memory_order_acquire);
         filled = ring_.getWriteIndex(&index)) {
      std::this_thread::yield();
    }
  }
  ring_.push(scratch_);
}

FeatureTap::FeatureTap(double sampleRate, int inputs, int outputs, int maxBlock, uint32_t ringCapacity)
    : decimate_(sampleRate == 48000.0),
      inputs_(inputs),
      outputs_(outputs),
      mix_(maxBlock),
      mix16_(maxBlock / 3 + 2),
      melOut_((maxBlock / 3 / LogMel::kHop + 2) * LogMel::kMels),
      vadBuf_(kVadWindowSamples),
      lastSnapshot_(outputs, 0),
      ring_(ringCapacity) {
  // Output o's frames start o/outputs of a hop later than output 0's, so the outputs' FFTs land
  // in different blocks (4 outputs at block 64: 4 blocks apart) instead of all in one, which
  // kept the worst blocks long.
  for (int o = 0; o < outputs; ++o) {
    const size_t skip = static_cast<size_t>(BandSpectrum::kHop) * static_cast<size_t>(o) / static_cast<size_t>(outputs);
    spectra_.push_back(std::make_unique<BandSpectrum>(sampleRate, 3.0, skip));
    howl_.push_back(std::make_unique<HowlDetector>(sampleRate, BandSpectrum::kFft, BandSpectrum::kHop));
  }
}

void FeatureTap::process(const float* const* in, int inputs, const float* const* out, int outputs, int frames, uint64_t block) noexcept {
  if (decimate_ && inputs > 0) {
    const float scale = 1.0f / static_cast<float>(inputs);
    // Channel by channel, so the inner loop runs along the block (it vectorises); the same sums
    // in the same order as sample by sample.
    float* mix = mix_.data();
    for (int i = 0; i < frames; ++i) mix[i] = in[0][i];
    for (int c = 1; c < inputs; ++c) {
      const float* x = in[c];
      for (int i = 0; i < frames; ++i) mix[i] += x[i];
    }
    for (int i = 0; i < frames; ++i) mix[i] *= scale;
    const size_t n16 = decimator_.process(mix_.data(), frames, mix16_.data(), mix16_.size());
    const size_t maxFrames = melOut_.size() / LogMel::kMels;
    const size_t made = logMel_.push(mix16_.data(), n16, melOut_.data(), maxFrames);
    for (size_t f = 0; f < made; ++f) {
      scratch_.kind = kLogMelFrame;
      scratch_.index = 0;
      scratch_.block = block;
      scratch_.count = LogMel::kMels;
      for (int m = 0; m < LogMel::kMels; ++m) scratch_.data[m] = melOut_[f * LogMel::kMels + m];
      publish();
    }
    for (size_t i = 0; i < n16; ++i) {
      vadBuf_[vadFill_++] = mix16_[i];
      if (vadFill_ == kVadWindowSamples) {
        scratch_.kind = kVadWindow;
        scratch_.index = 0;
        scratch_.block = block;
        scratch_.count = kVadWindowSamples;
        for (int k = 0; k < kVadWindowSamples; ++k) scratch_.data[k] = vadBuf_[k];
        publish();
        vadFill_ = 0;
      }
    }
  }
  const int outs = outputs < outputs_ ? outputs : outputs_;
  for (int o = 0; o < outs; ++o) {
    BandSpectrum& bs = *spectra_[o];
    HowlDetector& hd = *howl_[o];
    hd.feed(out[o], frames);
    if (bs.push(out[o], frames) > 0) {
      const int n = hd.analyse(bs.spectrum());
      if (n > 0) {
        scratch_.kind = kHowl;
        scratch_.index = static_cast<uint32_t>(o);
        scratch_.block = block;
        scratch_.count = static_cast<uint32_t>(n * HowlDetector::kFloats);
        const HowlCandidate* c = hd.candidates();
        for (int i = 0; i < n; ++i) {
          float* d = scratch_.data + i * HowlDetector::kFloats;
          d[0] = c[i].hz, d[1] = c[i].levelDb, d[2] = c[i].growthDbPerS, d[3] = c[i].paprDb;
          d[4] = c[i].phprDb, d[5] = c[i].pnprDb, d[6] = c[i].ipmp, d[7] = c[i].ageFrames;
          d[8] = c[i].fitR2, d[9] = c[i].maxStepDb, d[10] = c[i].harmonicGrowthDbPerS;
          d[11] = c[i].lineHowl, d[12] = c[i].lineGrowthDbPerS, d[13] = c[i].lineResidualDb, d[14] = c[i].lineBend, d[15] = c[i].lineHzStd;
        }
        publish();
      }
    }
    if (bs.frames() >= lastSnapshot_[o] + kSpectrumEveryFrames) {
      lastSnapshot_[o] = bs.frames();
      scratch_.kind = kSpectrum;
      scratch_.index = static_cast<uint32_t>(o);
      scratch_.block = block;
      scratch_.count = 2 * BandSpectrum::kBands;
      bs.snapshot(scratch_.data);
      publish();
    }
  }
}

}  // namespace features
