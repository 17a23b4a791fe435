#pragma GCC optimize("O3")
#include "sep/beam_separator.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "dsp/fft.h"

namespace sep {

using dsp::cplx;

struct BeamSeparator::Impl {
  SeparatorOptions o;
  std::vector<dsp::Vec3> mics;
  double fs;
  int n, hop, m, J, bins;
  dsp::RealFft fft;
  std::vector<double> win, frame;
  std::vector<float> fifo;   // m x n, the last n input samples
  int pos = 0;               // samples into the current hop
  std::vector<cplx> spec;    // m x bins
  std::vector<cplx> beam;    // J x bins
  std::vector<double> pw;    // J x bins, smoothed beam power
  std::vector<double> pg;    // bins, scratch: sum of P^g
  std::vector<cplx> out;     // bins, scratch
  std::vector<double> ola;   // (2J + 1) x n: stems, beams, residual
  std::vector<double> lead;  // J x m, seconds
  std::vector<bool> active, wasActive;

  Impl(const dsp::Geometry& g, const SeparatorOptions& opt)
      : o(opt), mics(g.mics), fs(g.sampleRate), n(dsp::nextPow2(std::max(opt.frameSize, 64))), hop(n / 2),
        m(static_cast<int>(g.mics.size())), J(std::clamp(opt.sources, 1, kMaxSources)), bins(n / 2 + 1), fft(n) {
    win.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) win[static_cast<size_t>(i)] = std::sqrt(0.5 - 0.5 * std::cos(2 * dsp::kPi * i / n));
    frame.assign(static_cast<size_t>(n), 0.0);
    fifo.assign(static_cast<size_t>(m) * n, 0.f);
    spec.assign(static_cast<size_t>(m) * bins, cplx());
    beam.assign(static_cast<size_t>(J) * bins, cplx());
    pw.assign(static_cast<size_t>(J) * bins, 0.0);
    pg.assign(static_cast<size_t>(bins), 0.0);
    out.assign(static_cast<size_t>(bins), cplx());
    ola.assign(static_cast<size_t>(2 * J + 1) * n, 0.0);
    lead.assign(static_cast<size_t>(J) * m, 0.0);
    active.assign(static_cast<size_t>(J), false);
    wasActive.assign(static_cast<size_t>(J), false);
  }

  // Synthesis of one output's spectrum into its overlap-add buffer.
  void synth(int which) noexcept {
    fft.inverse(out.data(), frame.data());
    double* acc = &ola[static_cast<size_t>(which) * n];
    for (int i = 0; i < n; i++) acc[i] += frame[static_cast<size_t>(i)] * win[static_cast<size_t>(i)];
  }

  void analyse() noexcept {
    for (int c = 0; c < m; c++) {
      const float* f = &fifo[static_cast<size_t>(c) * n];
      for (int i = 0; i < n; i++) frame[static_cast<size_t>(i)] = f[i] * win[static_cast<size_t>(i)];
      fft.forward(frame.data(), &spec[static_cast<size_t>(c) * bins]);
    }
    const double inv = 1.0 / m;
    std::fill(pg.begin(), pg.end(), 0.0);
    for (int j = 0; j < J; j++) {
      cplx* y = &beam[static_cast<size_t>(j) * bins];
      double* p = &pw[static_cast<size_t>(j) * bins];
      if (!active[static_cast<size_t>(j)]) {
        std::fill(y, y + bins, cplx());
        wasActive[static_cast<size_t>(j)] = false;
        continue;
      }
      std::fill(y, y + bins, cplx());
      for (int c = 0; c < m; c++) {
        // Mic c hears the source lead seconds early: X_c = S e^{+j w lead}; align by e^{-j w lead}.
        const double ph = -2 * dsp::kPi * lead[static_cast<size_t>(j) * m + c] * fs / n;
        const cplx step = std::polar(1.0, ph);
        cplx rot(1, 0);
        const cplx* x = &spec[static_cast<size_t>(c) * bins];
        for (int k = 0; k < bins; k++) {
          y[k] += x[k] * rot;
          rot *= step;
        }
      }
      const bool fresh = !wasActive[static_cast<size_t>(j)];
      wasActive[static_cast<size_t>(j)] = true;
      for (int k = 0; k < bins; k++) {
        y[k] *= inv;
        const double e = std::norm(y[k]);
        p[k] = fresh ? e : o.smoothing * p[k] + (1 - o.smoothing) * e;
        pg[static_cast<size_t>(k)] += std::pow(p[k] + 1e-30, o.sharpness);
      }
    }
    // Residual spectrum starts as the mic average.
    std::vector<cplx>& res = spec;  // mic 0's slot reused as the residual after the beams are formed
    for (int k = 0; k < bins; k++) {
      cplx s = 0;
      for (int c = 0; c < m; c++) s += spec[static_cast<size_t>(c) * bins + k];
      res[static_cast<size_t>(k)] = s * inv;
    }
    for (int j = 0; j < J; j++) {
      if (!active[static_cast<size_t>(j)]) continue;
      const cplx* y = &beam[static_cast<size_t>(j) * bins];
      const double* p = &pw[static_cast<size_t>(j) * bins];
      for (int k = 0; k < bins; k++) {
        const double gk = std::max(o.floor, std::pow(p[k] + 1e-30, o.sharpness) / pg[static_cast<size_t>(k)]);
        out[static_cast<size_t>(k)] = y[k] * gk;
        res[static_cast<size_t>(k)] -= out[static_cast<size_t>(k)];
      }
      synth(j);
      std::copy(y, y + bins, out.begin());
      synth(J + j);
    }
    std::copy(res.begin(), res.begin() + bins, out.begin());
    synth(2 * J);
  }

  void setDirections(const double* az, const double* el, const bool* act) noexcept {
    for (int j = 0; j < J; j++) {
      active[static_cast<size_t>(j)] = act[j];
      if (!act[j]) continue;
      const dsp::Vec3 u = dsp::directionVector(az[j], el[j]);
      for (int c = 0; c < m; c++) lead[static_cast<size_t>(j) * m + c] = dsp::leadSeconds(mics[static_cast<size_t>(c)], u);
    }
  }
};

BeamSeparator::BeamSeparator(const dsp::Geometry& g, const SeparatorOptions& o) : impl_(new Impl(g, o)) {}
BeamSeparator::~BeamSeparator() = default;
BeamSeparator::BeamSeparator(BeamSeparator&&) noexcept = default;
BeamSeparator& BeamSeparator::operator=(BeamSeparator&&) noexcept = default;

void BeamSeparator::setDirections(const double* az, const double* el, const bool* active) noexcept { impl_->setDirections(az, el, active); }

void BeamSeparator::process(const float* const* in, float* const* stems, float* const* beams, float* residual, int frames,
                            void (*onHop)(void*), void* ctx) noexcept {
  Impl& s = *impl_;
  const int n = s.n, hop = s.hop, J = s.J;
  int done = 0;
  while (done < frames) {
    const int take = std::min(frames - done, hop - s.pos);
    // The fifo's last hop fills; the oldest hop of each overlap-add buffer is complete and goes out.
    for (int c = 0; c < s.m; c++)
      std::copy(in[c] + done, in[c] + done + take, &s.fifo[static_cast<size_t>(c) * n + (n - hop) + s.pos]);
    for (int w = 0; w < 2 * J + 1; w++) {
      float* dst = w < J ? (stems ? stems[w] : nullptr) : w < 2 * J ? (beams ? beams[w - J] : nullptr) : residual;
      if (!dst) continue;
      const double* acc = &s.ola[static_cast<size_t>(w) * n + s.pos];
      for (int i = 0; i < take; i++) dst[done + i] = static_cast<float>(acc[i]);
    }
    s.pos += take;
    done += take;
    if (s.pos == hop) {
      for (int w = 0; w < 2 * J + 1; w++) {
        double* acc = &s.ola[static_cast<size_t>(w) * n];
        std::copy(acc + hop, acc + n, acc);
        std::fill(acc + (n - hop), acc + n, 0.0);
      }
      if (onHop) onHop(ctx);
      s.analyse();
      for (int c = 0; c < s.m; c++) {
        float* f = &s.fifo[static_cast<size_t>(c) * n];
        std::copy(f + hop, f + n, f);
      }
      s.pos = 0;
    }
  }
}

int BeamSeparator::hopSize() const noexcept { return impl_->hop; }
int BeamSeparator::latency() const noexcept { return impl_->n; }

}  // namespace sep
