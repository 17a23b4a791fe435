#include "dsp/freq_shift.h"

#include <algorithm>
#include <cmath>

namespace dsp {

namespace {
// Niemitalo's Hilbert pair (a per section; each section is (a^2 - z^-2) / (1 - a^2 z^-2)).
constexpr double kReal[FreqShift::kSections] = {0.4021921162426, 0.8561710882420, 0.9722909545651, 0.9952884791278};
constexpr double kImag[FreqShift::kSections] = {0.6923878, 0.9360654322959, 0.9882295226860, 0.9987488452737};
constexpr double kTwoPi = 6.283185307179586;
}  // namespace

double FreqShift::Chain::run(double in) noexcept {
  double v = in;
  for (int s = 0; s < kSections; ++s) {
    const double out = c[s] * (v + y2[s]) - x2[s];
    x2[s] = x1[s];
    x1[s] = v;
    y2[s] = y1[s];
    y1[s] = out;
    v = out;
  }
  return v;
}

void FreqShift::Chain::clear() noexcept {
  for (int s = 0; s < kSections; ++s) x1[s] = x2[s] = y1[s] = y2[s] = 0;
}

FreqShift::FreqShift(double sampleRate) noexcept : fs_(sampleRate), mixStep_(1.0 / (kGlideS * sampleRate)) {
  for (int s = 0; s < kSections; ++s) {
    re_.c[s] = kReal[s] * kReal[s];
    im_.c[s] = kImag[s] * kImag[s];
  }
}

void FreqShift::setShiftHz(double hz) noexcept {
  if (!std::isfinite(hz)) return;
  target_ = std::clamp(hz, -kMaxShiftHz, kMaxShiftHz);
  step_ = (target_ - cur_) / (kGlideS * fs_);
}

void FreqShift::reset() noexcept {
  re_.clear();
  im_.clear();
  imDelay_ = 0;
  zr_ = 1;
  zi_ = 0;
  cur_ = target_;
  step_ = 0;
  mix_ = target_ != 0.0 ? 1.0 : 0.0;
  idle_ = false;
}

void FreqShift::process(float* x, int n) noexcept {
  if (bypassed()) {
    idle_ = true;
    return;
  }
  if (idle_) {
    re_.clear();
    im_.clear();
    imDelay_ = 0;
    idle_ = false;
  }
  // Renormalise the oscillator once a block: the recursion's rounding drifts |z| by ~1e-16 a sample.
  const double mag = std::sqrt(zr_ * zr_ + zi_ * zi_);
  zr_ /= mag;
  zi_ /= mag;
  const double wantMix = target_ != 0.0 ? 1.0 : 0.0;
  const bool steady = cur_ == target_ && mix_ == wantMix;
  double cr = 1, ci = 0;
  if (steady) {
    cr = std::cos(kTwoPi * cur_ / fs_);
    ci = std::sin(kTwoPi * cur_ / fs_);
  }
  for (int i = 0; i < n; ++i) {
    const double in = x[i];
    const double xr = re_.run(in);
    const double xi = imDelay_;
    imDelay_ = im_.run(in);
    if (!steady) {
      // Glide: the frequency first (linear in Hz), the crossfade toward bypass only once it is 0.
      if (cur_ != target_) {
        cur_ += step_;
        if ((step_ > 0 && cur_ >= target_) || (step_ < 0 && cur_ <= target_) || step_ == 0) cur_ = target_;
      }
      if (mix_ < wantMix) mix_ = std::min(wantMix, mix_ + mixStep_);
      else if (mix_ > wantMix && cur_ == 0.0) mix_ = std::max(wantMix, mix_ - mixStep_);
      cr = std::cos(kTwoPi * cur_ / fs_);
      ci = std::sin(kTwoPi * cur_ / fs_);
    }
    if (mix_ == 0.0) continue;  // the last samples of a glide back to bypass: x[i] stays as it is
    const double shifted = xr * zr_ - xi * zi_;
    x[i] = static_cast<float>(mix_ == 1.0 ? shifted : in + mix_ * (shifted - in));
    const double nr = zr_ * cr - zi_ * ci;
    zi_ = zr_ * ci + zi_ * cr;
    zr_ = nr;
  }
}

}  // namespace dsp
