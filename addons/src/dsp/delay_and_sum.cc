#pragma GCC optimize("O3")
// Delay-and-sum: each mic is delayed so a plane wave from the steered direction lines up with
// the array origin delayed by K0 samples, then the channels are averaged.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "dsp/beamformer.h"
#include "dsp/fractional_delay.h"

namespace dsp {

Beamformer::~Beamformer() = default;

namespace {

constexpr int kTaps = 16;          // fractional-delay FIR length
constexpr double kBeta = 6.0;      // Kaiser window shape: flat to ~0.8 Nyquist at 16 taps
constexpr int kChunk = 16;         // taps are recomputed every kChunk samples during a glide
// Fraction steps of the tap table: a glide retaps 16 mics every 16 samples, and designing each
// filter directly (a Bessel series per tap) was most of a gliding beam's cost. 256 steps keep
// the table-built response within 0.001 dB of the direct design (16 KB per beam).
constexpr int kTableSteps = 256;
constexpr double kGlideMs = 20;    // steering glide: delays move linearly over this time

// One full chunk of the beam: out[i] = gain * sum over mics c, taps k of h[c][k] x[c][i - k],
// summed in the same order as the tail path below (mic by mic, tap by tap, from 0), so every
// build and both paths give the same bits. The chunk's sums stay in registers (kChunk floats)
// instead of being loaded and stored per tap, and the fixed length unrolls fully. `x0` points at
// sample 0 of the chunk in mic 0's history; mic c's starts `stride` later, less its whole delay.
// Written with GCC's generic vector types: left alone, GCC vectorised this nest over the taps (a
// shuffle per product). Lanes per vector: 4 (SSE on a baseline x86-64 build, NEON on aarch64) or
// 8 (the AVX2 copy); kChunk / lanes accumulators.
typedef float V4 __attribute__((vector_size(16)));
typedef float V8 __attribute__((vector_size(32)));
template <typename V>
inline __attribute__((always_inline)) void sumChunkBody(const float* __restrict taps, const float* __restrict x0,
                                                        const int* __restrict whole, int m, int stride, float gain,
                                                        float* __restrict out) noexcept {
  constexpr int kLanes = sizeof(V) / sizeof(float), kAcc = kChunk / kLanes;
  static_assert(kChunk % kLanes == 0, "whole vectors per chunk");
  V acc[kAcc] = {};
  for (int c = 0; c < m; c++) {
    const float* h = taps + static_cast<size_t>(c) * kTaps;
    const float* x = x0 + static_cast<size_t>(c) * stride - whole[c];
    for (int k = 0; k < kTaps; k++) {
      const float hk = h[k];
      for (int j = 0; j < kAcc; j++) {
        V v;
        std::memcpy(&v, x - k + j * kLanes, sizeof v);  // an unaligned load
        acc[j] += hk * v;
      }
    }
  }
  for (int j = 0; j < kAcc; j++) {
    const V v = acc[j] * gain;
    std::memcpy(out + j * kLanes, &v, sizeof v);
  }
}
using SumChunkFn = void (*)(const float*, const float*, const int*, int, int, float, float*) noexcept;
void sumChunkPortable(const float* taps, const float* x0, const int* whole, int m, int stride, float gain, float* out) noexcept {
  sumChunkBody<V4>(taps, x0, whole, m, stride, gain, out);
}
// On x86-64 a second copy for AVX2 (eight lanes), picked at construction like the DOA's kernels
// (no ifunc). AVX2 only, not FMA: a fused multiply-add would round differently from the
// baseline build, and the beams must be the same bits on every machine of one architecture.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DAS_HAVE_AVX2 1
__attribute__((target("avx2"))) void sumChunkAvx2(const float* taps, const float* x0, const int* whole, int m, int stride,
                                                  float gain, float* out) noexcept {
  sumChunkBody<V8>(taps, x0, whole, m, stride, gain, out);
}
#endif
SumChunkFn pickSumChunk() noexcept {
#ifdef DAS_HAVE_AVX2
  if (__builtin_cpu_supports("avx2")) return sumChunkAvx2;
#endif
  return sumChunkPortable;
}

// Real-time safety: the constructor allocates; everything else is noexcept and allocation-free.
class DelayAndSum final : public Beamformer {
 public:
  DelayAndSum(const Geometry& g, int maxBlock)
      : mics_(g.mics), fs_(g.sampleRate), maxBlock_(std::max(maxBlock, 1)), table_(kTaps, kBeta, kTableSteps) {
    const int m = static_cast<int>(mics_.size());
    double radius = 0;
    for (const auto& p : mics_) radius = std::max(radius, std::sqrt(dot(p, p)));
    const double spread = radius / kSpeedOfSound * fs_;  // largest lead or lag, samples
    k0_ = static_cast<int>(std::ceil(spread)) + kTaps / 2;
    hist_ = static_cast<int>(std::ceil(k0_ + spread)) + kTaps + 1;
    stride_ = hist_ + maxBlock_;
    buf_.assign(static_cast<size_t>(m) * stride_, 0.f);
    taps_.assign(static_cast<size_t>(m) * kTaps, 0.f);
    whole_.assign(static_cast<size_t>(m), 0);
    cur_.assign(static_cast<size_t>(m), 0.0);
    tgt_.assign(static_cast<size_t>(m), 0.0);
    step_.assign(static_cast<size_t>(m), 0.0);
    glideLen_ = std::max(1, static_cast<int>(kGlideMs * 1e-3 * fs_));
    aim(0, 0);
    for (int i = 0; i < m; i++) cur_[static_cast<size_t>(i)] = tgt_[static_cast<size_t>(i)];
    retap();
  }

  void steer(double azDeg, double elDeg) noexcept override {
    aim(azDeg, elDeg);
    glideLeft_ = glideLen_;
    for (size_t i = 0; i < cur_.size(); i++) step_[i] = (tgt_[i] - cur_[i]) / glideLen_;
  }

  void process(const float* const* in, float* out, int frames) noexcept override {
    const int m = static_cast<int>(mics_.size());
    while (frames > 0) {
      const int n = std::min(frames, maxBlock_);
      for (int c = 0; c < m; c++) std::memcpy(&buf_[static_cast<size_t>(c) * stride_ + hist_], in[c], sizeof(float) * n);
      const float gain = m > 0 ? 1.0f / m : 0.f;
      for (int start = 0; start < n; start += kChunk) {
        const int len = std::min(kChunk, n - start);
        if (glideLeft_ > 0) {
          const int adv = std::min(len, glideLeft_);
          glideLeft_ -= adv;
          for (size_t i = 0; i < cur_.size(); i++)
            cur_[i] = glideLeft_ == 0 ? tgt_[i] : cur_[i] + step_[i] * adv;
          retap();
        }
        if (len == kChunk) {
          sumChunk_(taps_.data(), buf_.data() + hist_ + start, whole_.data(), m, stride_, gain, out + start);
          continue;
        }
        for (int i = 0; i < len; i++) out[start + i] = 0.f;
        for (int c = 0; c < m; c++) {
          const float* h = &taps_[static_cast<size_t>(c) * kTaps];
          const float* x = &buf_[static_cast<size_t>(c) * stride_ + hist_ + start - whole_[static_cast<size_t>(c)]];
          float* o = out + start;
          for (int k = 0; k < kTaps; k++) {
            const float hk = h[k];
            const float* xk = x - k;
            for (int i = 0; i < len; i++) o[i] += hk * xk[i];
          }
        }
        for (int i = 0; i < len; i++) out[start + i] *= gain;
      }
      for (int c = 0; c < m; c++) {
        float* b = &buf_[static_cast<size_t>(c) * stride_];
        std::memmove(b, b + n, sizeof(float) * hist_);
      }
      in = advance(in, n);
      out += n;
      frames -= n;
    }
  }

  int latencySamples() const noexcept override { return k0_; }
  const char* name() const noexcept override { return "das"; }
  void resetStream() noexcept override { std::fill(buf_.begin(), buf_.end(), 0.f); }

 private:
  // Target delay of each mic, samples: K0 plus the mic's lead for this direction.
  void aim(double azDeg, double elDeg) noexcept {
    const Vec3 d = directionVector(azDeg, elDeg);
    for (size_t i = 0; i < mics_.size(); i++) tgt_[i] = k0_ + leadSeconds(mics_[i], d) * fs_;
  }
  void retap() noexcept {
    for (size_t i = 0; i < cur_.size(); i++) {
      const double base = std::max(cur_[i] - (kTaps / 2 - 1), 0.0);
      const double whole = std::floor(base);
      whole_[i] = static_cast<int>(whole);
      table_.taps(base - whole, &taps_[i * kTaps]);
    }
  }
  // Channel pointers are advanced in a fixed array when process() is fed more than maxBlock.
  const float* const* advance(const float* const* in, int n) noexcept {
    const size_t m = mics_.size();
    for (size_t c = 0; c < m && c < kMaxPtr; c++) ptrs_[c] = in[c] + n;
    return ptrs_;
  }
  static constexpr size_t kMaxPtr = 256;
  const float* ptrs_[kMaxPtr] = {};

  std::vector<Vec3> mics_;
  double fs_;
  int maxBlock_, k0_ = 0, hist_ = 0, stride_ = 0;
  FractionalDelayTable table_;
  std::vector<float> buf_, taps_;
  std::vector<int> whole_;
  std::vector<double> cur_, tgt_, step_;
  int glideLen_ = 1, glideLeft_ = 0;
  SumChunkFn sumChunk_ = pickSumChunk();
};

}  // namespace

std::unique_ptr<Beamformer> makeDelayAndSum(const Geometry& g, int maxBlock) {
  return std::make_unique<DelayAndSum>(g, maxBlock);
}

}  // namespace dsp
