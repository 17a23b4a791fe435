#pragma GCC optimize("O3")
#include "dsp/stage_sim.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "dsp/fractional_delay.h"

namespace dsp {

namespace {

constexpr int kTaps = 32;
constexpr double kBeta = 8.0;

// xorshift128+ seeded through splitmix64: fast, deterministic, good enough for audio noise.
struct Rng {
  uint64_t s0, s1;
  explicit Rng(uint64_t seed = 1) {
    auto mix = [&seed]() {
      uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return z ^ (z >> 31);
    };
    s0 = mix(), s1 = mix();
  }
  uint64_t next() noexcept {
    uint64_t a = s0;
    const uint64_t b = s1;
    s0 = b;
    a ^= a << 23;
    s1 = a ^ b ^ (a >> 17) ^ (b >> 26);
    return s1 + b;
  }
  double uniform() noexcept { return ((next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
  bool haveSpare = false;
  double spare = 0;
  // Standard normal (Box-Muller, the second value kept for the next call).
  double gauss() noexcept {
    if (haveSpare) {
      haveSpare = false;
      return spare;
    }
    const double r = std::sqrt(-2 * std::log(uniform())), t = 2 * kPi * uniform();
    spare = r * std::sin(t), haveSpare = true;
    return r * std::cos(t);
  }
};

// One source's signal at the array origin.
struct Generator {
  SimSourceSpec spec;
  double fs;
  Rng rng;
  double gain = 1, phase = 0;
  uint64_t t = 0;
  int harmonics = 1;

  double sample() noexcept {
    const double time = static_cast<double>(t++) / fs;
    switch (spec.kind) {
      case 1:
        return gain * rng.gauss();
      case 2: {
        // Speech-like: a harmonic voice with vibrato and a syllabic envelope, breathy noise in
        // the gaps. Not speech, but it has speech's spectrum shape and rhythm.
        const double f0 = spec.freqHz * (1 + 0.02 * std::sin(2 * kPi * 5.1 * time) + 0.04 * std::sin(2 * kPi * 0.37 * time));
        phase += 2 * kPi * f0 / fs;
        if (phase > 2 * kPi) phase -= 2 * kPi;
        const double s1 = std::sin(phase), c = std::cos(phase);
        double prev = 0, cur = s1, sum = 0;
        for (int h = 1; h <= harmonics; h++) {
          sum += cur / h;
          const double nx = 2 * c * cur - prev;
          prev = cur, cur = nx;
        }
        const double syl = std::sin(2 * kPi * 3.3 * time + 0.8 * std::sin(2 * kPi * 0.53 * time));
        const double env = syl > 0 ? syl * std::sqrt(syl) : 0.0;
        const double breath = (1 - env) * 0.05 * rng.gauss();
        return gain * (env * sum + breath);
      }
      default:
        phase += 2 * kPi * spec.freqHz / fs;
        if (phase > 2 * kPi) phase -= 2 * kPi;
        return gain * std::sin(phase);
    }
  }
};

}  // namespace

struct StageSimulator::Impl {
  int m = 0, maxBlock = 1, hist = 0, stride = 0;
  std::vector<Generator> gens;
  std::vector<float> srcBuf;      // per source: history then the current block
  std::vector<float> taps;        // per source and mic
  std::vector<int> whole;         // per source and mic
  std::vector<Rng> noise;         // per mic
  double noiseGain = 0;
};

StageSimulator::StageSimulator(const Geometry& g, const std::vector<SimSourceSpec>& sources, double noiseDb,
                               uint32_t seed, int maxBlock)
    : impl_(new Impl) {
  Impl& s = *impl_;
  s.m = static_cast<int>(g.mics.size());
  s.maxBlock = std::max(maxBlock, 1);
  const double fs = g.sampleRate;
  double radius = 0;
  for (const auto& p : g.mics) radius = std::max(radius, std::sqrt(dot(p, p)));
  const double spread = radius / kSpeedOfSound * fs;
  const double k0 = std::ceil(spread) + kTaps / 2;
  s.hist = static_cast<int>(std::ceil(k0 + spread)) + kTaps + 1;
  s.stride = s.hist + s.maxBlock;
  s.srcBuf.assign(sources.size() * static_cast<size_t>(s.stride), 0.f);
  s.taps.assign(sources.size() * static_cast<size_t>(s.m) * kTaps, 0.f);
  s.whole.assign(sources.size() * static_cast<size_t>(s.m), 0);
  for (size_t i = 0; i < sources.size(); i++) {
    Generator gen;
    gen.spec = sources[i];
    gen.fs = fs;
    gen.rng = Rng((static_cast<uint64_t>(seed) << 20) ^ (0xA5A5ull + i));
    gen.harmonics = std::max(1, static_cast<int>(std::min(5000.0, 0.45 * fs) / std::max(sources[i].freqHz, 20.0)));
    const double level = std::pow(10.0, sources[i].levelDb / 20.0);
    if (gen.spec.kind == 2) {
      // Calibrate the speech-like level on 4 s of its own signal (a copy, so the stream starts
      // at t = 0 either way).
      Generator probe = gen;
      double sum = 0;
      const int len = static_cast<int>(4 * fs);
      for (int k = 0; k < len; k++) {
        const double v = probe.sample();
        sum += v * v;
      }
      gen.gain = sum > 0 ? level / std::sqrt(sum / len) : 0;
    } else {
      gen.gain = gen.spec.kind == 0 ? level * std::sqrt(2.0) : level;
    }
    s.gens.push_back(gen);
    const Vec3 d = directionVector(sources[i].azDeg, sources[i].elDeg);
    for (int c = 0; c < s.m; c++) {
      // Mic c hears the origin's signal lead seconds early: delay k0 - lead, k0 >= every lead.
      const double delay = k0 - leadSeconds(g.mics[static_cast<size_t>(c)], d) * fs;
      const double base = delay - (kTaps / 2 - 1), w = std::floor(base);
      const size_t idx = i * static_cast<size_t>(s.m) + static_cast<size_t>(c);
      s.whole[idx] = static_cast<int>(w);
      fractionalDelayTaps(base - w, kTaps, kBeta, &s.taps[idx * kTaps]);
    }
  }
  for (int c = 0; c < s.m; c++) s.noise.emplace_back((static_cast<uint64_t>(seed) << 20) ^ (0x5EEDull + 7919ull * c));
  s.noiseGain = noiseDb <= -200 ? 0.0 : std::pow(10.0, noiseDb / 20.0);
  // Pre-roll so the first rendered sample already has every source in every mic.
  std::vector<float> scratch(static_cast<size_t>(s.m) * s.maxBlock);
  std::vector<float*> ptrs(static_cast<size_t>(s.m));
  for (int c = 0; c < s.m; c++) ptrs[static_cast<size_t>(c)] = &scratch[static_cast<size_t>(c) * s.maxBlock];
  for (int left = s.hist; left > 0;) {
    const int n = std::min(left, s.maxBlock);
    render(ptrs.data(), n);
    left -= n;
  }
  for (auto& r : s.noise) r = Rng(r.next());
}

StageSimulator::~StageSimulator() = default;
StageSimulator::StageSimulator(StageSimulator&&) noexcept = default;
StageSimulator& StageSimulator::operator=(StageSimulator&&) noexcept = default;

void StageSimulator::render(float* const* out, int frames) noexcept {
  Impl& s = *impl_;
  int done = 0;
  while (done < frames) {
    const int n = std::min(frames - done, s.maxBlock);
    for (int c = 0; c < s.m; c++) {
      float* o = out[c] + done;
      Rng& r = s.noise[static_cast<size_t>(c)];
      if (s.noiseGain > 0) {
        for (int i = 0; i < n; i++) o[i] = static_cast<float>(s.noiseGain * r.gauss());
      } else {
        std::memset(o, 0, sizeof(float) * n);
      }
    }
    for (size_t g = 0; g < s.gens.size(); g++) {
      float* b = &s.srcBuf[g * static_cast<size_t>(s.stride)];
      for (int i = 0; i < n; i++) b[s.hist + i] = static_cast<float>(s.gens[g].sample());
      for (int c = 0; c < s.m; c++) {
        const size_t idx = g * static_cast<size_t>(s.m) + static_cast<size_t>(c);
        const float* h = &s.taps[idx * kTaps];
        const float* x = b + s.hist - s.whole[idx];
        float* o = out[c] + done;
        // Tap by tap over the block: no reduction in the inner loop, so it vectorises.
        for (int k = 0; k < kTaps; k++) {
          const float hk = h[k];
          const float* xk = x - k;
          for (int i = 0; i < n; i++) o[i] += hk * xk[i];
        }
      }
      std::memmove(b, b + n, sizeof(float) * s.hist);
    }
    done += n;
  }
}

}  // namespace dsp
