// FeatureTap: what the audio thread computes for the models, published through one SPSC ring of
// fixed-size records (the control plane drains it; a full ring drops and counts):
//   kLogMel    one 40-band log-mel frame (10 ms hop) of the input mix, decimated to 16 kHz
//   kVad       one 512-sample window at 16 kHz of the input mix, for the Silero VAD (32 ms)
//   kSpectrum  one output's band spectrum (32 mean dB + 32 spread dB), about every 0.5 s
//   kHowl      one output's howl candidates (HowlDetector, HowlDetector::kFloats floats each), on every analysis frame
//              (21 ms) that has any; none published while there are none. The detector's line
//              followers run on the output's samples themselves (HowlDetector::feed), every block
// Sized at construction (which may allocate); process() never allocates, locks or blocks, except
// offline: after waitForRoom() (the file backend, unpaced, where nothing may be dropped) a full
// ring makes process() yield until the control thread has drained a record or `stop` is set.
// Log-mel and VAD need a 48 kHz engine (the decimator is 3:1); at other rates only spectra run.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "features/band_spectrum.h"
#include "features/decimator.h"
#include "features/howl_detector.h"
#include "features/log_mel.h"
#include "ring.h"

namespace features {

enum FeatureKind : uint32_t { kLogMelFrame = 1, kVadWindow = 2, kSpectrum = 3, kHowl = 4 };

struct FeatureRecord {
  uint32_t kind = 0;
  uint32_t index = 0;   // output index for kSpectrum and kHowl
  uint64_t block = 0;   // engine blocks completed when published
  uint32_t count = 0;   // floats used in data
  float data[512];
};

class FeatureTap {
 public:
  static constexpr int kVadWindowSamples = 512;
  // Spectrum snapshots per output: one per this many analysis frames (1024-sample hop).
  static constexpr int kSpectrumEveryFrames = 24;

  FeatureTap(double sampleRate, int inputs, int outputs, int maxBlock, uint32_t ringCapacity = 512);

  // Audio thread: one block of planar input and output, after the crossfade.
  void process(const float* const* in, int inputs, const float* const* out, int outputs, int frames, uint64_t block) noexcept;

  // Before the audio thread starts: offline, wait for room instead of dropping (see above).
  // Output o's frequency shift went on (true) or off: its howl detector reads a shifted howl (kShiftedPnprDb). Audio thread.
  void setHowlShifted(int o, bool shifted) noexcept {
    if (o >= 0 && o < static_cast<int>(howl_.size())) howl_[o]->setPnprDb(shifted ? kShiftedPnprDb : howl_[o]->defaultPnprDb());
  }
  void waitForRoom(const std::atomic<bool>* stop) noexcept { stop_ = stop; }

  // Control thread.
  bool pop(FeatureRecord* r) noexcept { return ring_.pop(r); }
  uint64_t dropped() const noexcept { return ring_.dropped(); }
  bool speechFeatures() const noexcept { return decimate_; }

 private:
  bool decimate_;
  int inputs_, outputs_;
  std::vector<float> mix_, mix16_, melOut_;
  Decimator48to16 decimator_;
  LogMel logMel_;
  std::vector<float> vadBuf_;
  int vadFill_ = 0;
  std::vector<std::unique_ptr<BandSpectrum>> spectra_;
  std::vector<std::unique_ptr<HowlDetector>> howl_;
  std::vector<unsigned long long> lastSnapshot_;
  void publish() noexcept;
  FeatureRecord scratch_{};
  const std::atomic<bool>* stop_ = nullptr;
  ring::SpscRing<FeatureRecord> ring_;
};

}  // namespace features
