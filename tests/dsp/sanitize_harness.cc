// Exercises every DSP module with odd geometries, sample rates and block sizes, steering,
// adaptation switches, stream resets and absurd parameters. Built and run under AddressSanitizer
// and UndefinedBehaviorSanitizer by sanitizers.test.ts: any out-of-bounds access, use after free,
// leak or undefined behaviour aborts with a report.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "dsp/beamformer.h"
#include "dsp/biquad.h"
#include "dsp/compressor.h"
#include "dsp/doa.h"
#include "dsp/stage_sim.h"

using namespace dsp;

static Geometry ring(int n, double r, double fs) {
  Geometry g{{}, fs};
  for (int k = 0; k < n; k++) g.mics.push_back({r * std::cos(2 * kPi * k / n), r * std::sin(2 * kPi * k / n), 0});
  return g;
}

int main() {
  std::vector<Geometry> gs;
  gs.push_back(ring(8, 0.05, 48000));
  gs.push_back(ring(16, 0.1, 96000));
  gs.push_back(ring(24, 0.3, 44100));
  gs.push_back(Geometry{{{0, 0, 0}, {0.02, 0, 0}}, 48000});                                  // 2 mics
  gs.push_back(Geometry{{{-0.1, 0, 0}, {0, 0, 0}, {0.1, 0, 0}, {0.3, 0, 0}}, 48000});         // line
  gs.push_back(Geometry{{{0, 0, 0}, {0.05, 0, 0}, {0, 0.05, 0}, {0, 0, 0.05}, {0.05, 0.05, 0.05}}, 48000});  // 3D
  gs.push_back(Geometry{{{0, 0, 0.1}, {0.05, 0, 0.1}, {0, 0.0, 0.15}, {0.05, 0, 0.15}}, 48000});  // vertical plane
  gs.push_back(Geometry{{{0, 0, 0}, {0, 0, 0}}, 48000});                                      // coincident
  const int blocks[] = {1, 7, 64, 333, 1024};
  double sink = 0;
  for (const auto& g : gs) {
    const int M = static_cast<int>(g.mics.size());
    for (int maxBlock : {64, 1024}) {
      std::vector<SimSourceSpec> src = {{30, 10, 0, 440, -20}, {200, -20, 1, 0, -30}, {90, 60, 2, 150, -25}};
      StageSimulator sim(g, src, -50, 7, maxBlock);
      auto das = makeDelayAndSum(g, maxBlock);
      auto mv = makeMvdr(g, maxBlock);
      SrpPhatDoa doa(g, 512);
      std::vector<std::vector<float>> buf(M, std::vector<float>(maxBlock));
      std::vector<float*> w(M);
      std::vector<const float*> r(M);
      for (int c = 0; c < M; c++) w[c] = buf[c].data(), r[c] = buf[c].data();
      std::vector<float> out(maxBlock);
      int step = 0;
      for (int total = 0; total < 6000;) {
        const int n = std::min(blocks[step++ % 5], maxBlock);
        sim.render(w.data(), n);
        das->process(r.data(), out.data(), n);
        sink += out[n - 1];
        mv->process(r.data(), out.data(), n);
        sink += out[n - 1];
        doa.push(r.data(), n);
        if (doa.hasNew()) { auto e = doa.latest(); sink += e.azimuth * e.valid; }
        if (step % 37 == 0) { das->steer(step * 13.0, step % 90 - 45.0); mv->steer(-step * 7.0, 80); }
        if (step % 101 == 0) { mv->setAdaptation(step % 2); das->resetStream(); mv->resetStream(); }
        total += n;
      }
    }
  }
  ParametricEq eq(48000, 8);
  Compressor comp(48000);
  std::vector<float> x(1024);
  for (int b = 0; b < 500; b++) {
    for (int i = 0; i < 1024; i++) x[i] = static_cast<float>(std::sin(i * 0.05 + b) * (b % 3) - (b == 77 ? 1e30 : 0));
    BandParams p;
    p.type = static_cast<BandType>(b % 5), p.freqHz = 20 + (b * 97) % 30000, p.gainDb = (b % 49) - 24, p.q = 0.01 + (b % 7), p.enabled = b % 4;
    eq.setBand(b % 9 - 1, p);
    CompressorParams cp;
    cp.ratio = b % 2000, cp.kneeDb = b % 13, cp.attackMs = b % 3, cp.releaseMs = b % 5, cp.enabled = b % 2;
    comp.setParams(cp);
    eq.process(x.data(), 1 + b % 1024);
    comp.process(x.data(), 1 + b % 1024);
    sink += x[0] + comp.gainReductionDb();
  }
  std::printf("ok %d\n", std::isfinite(sink) ? 1 : 0);
  return 0;
}
