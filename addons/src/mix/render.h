// One personal mix, rendered: per-source gain and pan over the engine's outputs, the bed (the
// mean of the inputs) at its own gain, then a gentle compressor per side. A pure process() over
// planar blocks, used by the streamer's thread and by the offline render the tests compare with.
// The constructor allocates; setProfile and process are noexcept and allocate nothing.
#pragma once

#include <memory>

#include "dsp/compressor.h"
#include "mix/tap.h"

namespace mix {

// Separated sources a profile can mix in (the streamer's BeamSeparator slots, issue 17).
constexpr int kMaxStems = 4;

struct Profile {
  // Linear gain and pan (-1 left .. +1 right) per tapped output; gain 0 leaves a source out.
  float gain[kTapOutputs] = {0, 0, 0, 0, 0, 0, 0, 0};
  float pan[kTapOutputs] = {0, 0, 0, 0, 0, 0, 0, 0};
  float bedGain = 0;
  // Linear gain and pan per separated source slot (a tracked talker's post-filtered stem).
  float stemGain[kMaxStems] = {0, 0, 0, 0};
  float stemPan[kMaxStems] = {0, 0, 0, 0};
  dsp::CompressorParams compressor;
};

class Renderer {
 public:
  explicit Renderer(double sampleRate);
  void setProfile(const Profile& p) noexcept;
  // outs[k] for k < outputs, bed, stems[j] for j < nStems (null: none): n samples each; writes
  // n samples to left and right.
  void process(const float* const* outs, int outputs, const float* bed, int n, float* left, float* right,
               const float* const* stems = nullptr, int nStems = 0) noexcept;
  bool usesStems() const noexcept;
  void reset() noexcept;

 private:
  Profile p_;
  float gl_[kTapOutputs] = {}, gr_[kTapOutputs] = {};
  float sl_[kMaxStems] = {}, sr_[kMaxStems] = {};
  dsp::Compressor compL_, compR_;
};

}  // namespace mix
