#include "mix/render.h"

#include <algorithm>
#include <cmath>

namespace mix {

Renderer::Renderer(double sampleRate) : compL_(sampleRate), compR_(sampleRate) {}

void Renderer::setProfile(const Profile& p) noexcept {
  p_ = p;
  // Constant-power pan: centre is -3 dB on each side.
  for (int k = 0; k < kTapOutputs; k++) {
    const double theta = (std::clamp(static_cast<double>(p.pan[k]), -1.0, 1.0) + 1.0) * M_PI / 4.0;
    gl_[k] = static_cast<float>(p.gain[k] * std::cos(theta));
    gr_[k] = static_cast<float>(p.gain[k] * std::sin(theta));
  }
  for (int j = 0; j < kMaxStems; j++) {
    const double theta = (std::clamp(static_cast<double>(p.stemPan[j]), -1.0, 1.0) + 1.0) * M_PI / 4.0;
    sl_[j] = static_cast<float>(p.stemGain[j] * std::cos(theta));
    sr_[j] = static_cast<float>(p.stemGain[j] * std::sin(theta));
  }
  compL_.setParams(p.compressor);
  compR_.setParams(p.compressor);
}

bool Renderer::usesStems() const noexcept {
  for (int j = 0; j < kMaxStems; j++)
    if (p_.stemGain[j] != 0.0f) return true;
  return false;
}

void Renderer::process(const float* const* outs, int outputs, const float* bed, int n, float* left, float* right,
                       const float* const* stems, int nStems) noexcept {
  const float bedSide = p_.bedGain * static_cast<float>(M_SQRT1_2);
  for (int i = 0; i < n; i++) {
    const float b = bed[i] * bedSide;
    left[i] = b;
    right[i] = b;
  }
  const int m = std::min(outputs, kTapOutputs);
  for (int k = 0; k < m; k++) {
    if (p_.gain[k] == 0.0f) continue;
    const float* x = outs[k];
    const float l = gl_[k], r = gr_[k];
    for (int i = 0; i < n; i++) {
      left[i] += l * x[i];
      right[i] += r * x[i];
    }
  }
  const int js = stems ? std::min(nStems, kMaxStems) : 0;
  for (int j = 0; j < js; j++) {
    if (p_.stemGain[j] == 0.0f || !stems[j]) continue;
    const float* x = stems[j];
    const float l = sl_[j], r = sr_[j];
    for (int i = 0; i < n; i++) {
      left[i] += l * x[i];
      right[i] += r * x[i];
    }
  }
  compL_.process(left, n);
  compR_.process(right, n);
}

void Renderer::reset() noexcept {
  compL_.reset();
  compR_.reset();
}

}  // namespace mix
