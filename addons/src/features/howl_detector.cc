#include "features/howl_detector.h"

#include <cmath>

namespace features {

namespace {
constexpr float kNoLevel = -1000.0f;
inline float db10(double p) { return static_cast<float>(10.0 * std::log10(p + 1e-30)); }
}  // namespace

HowlDetector::HowlDetector(double sampleRate, int fftSize, int hop, HowlThresholds th)
    : fs_(sampleRate), n_(fftSize), hop_(hop), bins_(fftSize / 2 + 1), th_(th), power_(fftSize / 2 + 1, 0.0f) {
  lineA_ = static_cast<float>(std::exp(-1000.0 / (kLineTauMs * sampleRate)));
  lineWindow_ = static_cast<int>(std::lround(th.lineWindowMs * 1e-3 * sampleRate / kLineHop));
  if (lineWindow_ < 4) lineWindow_ = 4;
  if (lineWindow_ > kLineHistory - 8) lineWindow_ = kLineHistory - 8;
  // The cascade's response to a start settles within about 4 tau (then a steady exponential in, a
  // steady exponential out).
  lineSettle_ = static_cast<int>(std::ceil(4 * kLineTauMs * 1e-3 * sampleRate / kLineHop));
  const double df = sampleRate / fftSize;
  // 80 Hz to 16 kHz: below, the PA's high-pass; above, little gain left in a real loop.
  lo_ = static_cast<int>(std::ceil(80.0 / df));
  hi_ = static_cast<int>(std::floor(std::fmin(16000.0, 0.45 * sampleRate) / df));
  if (lo_ < 7) lo_ = 7;
  if (hi_ > bins_ - 7) hi_ = bins_ - 7;
  reset();
}

void HowlDetector::reset() noexcept {
  for (auto& t : tracks_) t = Track{};
  for (auto& l : lines_) l = Line{};
  lineFill_ = 0;
  nOut_ = 0;
}

void HowlDetector::startLine(int track) noexcept {
  int free = -1;
  const int lines = th_.lineFollowers < kLines ? th_.lineFollowers : kLines;
  for (int i = 0; i < lines && free < 0; ++i)
    if (lines_[i].track < 0) free = i;
  if (free < 0) return;
  Line& l = lines_[free];
  l = Line{};
  l.track = track;
  l.hz = tracks_[track].bin * fs_ / n_;
  l.rot = std::polar(1.0, -2.0 * M_PI * l.hz / fs_);
  tracks_[track].line = free;
}

void HowlDetector::feed(const float* x, int n) noexcept {
  // No followers (the default): nothing to demodulate, and the audio thread pays nothing for them.
  if (th_.lineFollowers <= 0) return;
  const float a = lineA_, b = 1.0f - lineA_;
  while (n > 0) {
    const int m = n < kLineHop - lineFill_ ? n : kLineHop - lineFill_;
    for (Line& l : lines_) {
      if (l.track < 0) continue;
      std::complex<double> osc = l.osc;
      std::complex<float> s1 = l.s1, s2 = l.s2, s3 = l.s3;
      for (int i = 0; i < m; ++i) {
        const std::complex<float> y(static_cast<float>(x[i] * osc.real()), static_cast<float>(x[i] * osc.imag()));
        s1 = a * s1 + b * y;
        s2 = a * s2 + b * s1;
        s3 = a * s3 + b * s2;
        osc *= l.rot;
      }
      l.osc = osc, l.s1 = s1, l.s2 = s2, l.s3 = s3;
    }
    x += m, n -= m, lineFill_ += m;
    if (lineFill_ < kLineHop) continue;
    lineFill_ = 0;
    for (Line& l : lines_) {
      if (l.track < 0) continue;
      l.osc /= std::abs(l.osc);
      // A sine of amplitude A demodulates to A / 2.
      l.env[l.head] = static_cast<float>(20 * std::log10(2 * std::abs(l.s3) + 1e-20));
      l.phase[l.head] = std::arg(l.s3);
      l.head = (l.head + 1) % kLineHistory;
      ++l.n;
      evaluateLine(l);
    }
  }
}

void HowlDetector::evaluateLine(Line& l) noexcept {
  const int w = lineWindow_;
  if (l.n < lineSettle_ + w) return;
  const double hopS = kLineHop / fs_;
  auto at = [&](int j) { return l.env[(l.head - w + j + 2 * kLineHistory) % kLineHistory]; };
  // Least-squares slope (dB per hop) of points [from, to).
  auto fit = [&](int from, int to, double* intercept) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    const int m = to - from;
    for (int j = from; j < to; ++j) sx += j, sy += at(j), sxx += static_cast<double>(j) * j, sxy += j * static_cast<double>(at(j));
    const double d = m * sxx - sx * sx;
    const double sl = d > 0 ? (m * sxy - sx * sy) / d : 0.0;
    if (intercept) *intercept = (sy - sl * sx) / m;
    return sl;
  };
  double c0 = 0;
  const double sl = fit(0, w, &c0);
  double res = 0;
  for (int j = 0; j < w; ++j) res += (at(j) - (c0 + sl * j)) * (at(j) - (c0 + sl * j));
  const double first = fit(0, w / 2, nullptr), second = fit(w - w / 2, w, nullptr);
  // Frequency from the phase advance per hop (the demodulated phase turns at the offset from l.hz).
  double fsum = 0, fsq = 0;
  for (int j = 1; j < w; ++j) {
    const int i1 = (l.head - w + j + 2 * kLineHistory) % kLineHistory, i0 = (i1 + kLineHistory - 1) % kLineHistory;
    double d = l.phase[i1] - l.phase[i0];
    if (d > M_PI) d -= 2 * M_PI;
    if (d < -M_PI) d += 2 * M_PI;
    const double hz = d / (2 * M_PI * hopS);
    fsum += hz, fsq += hz * hz;
  }
  const double fm = fsum / (w - 1);
  LineView v;
  v.growth = static_cast<float>(sl / hopS);
  v.residual = static_cast<float>(std::sqrt(res / w));
  v.bend = static_cast<float>(first > 0 ? second / first : 0.0);
  v.hzStd = static_cast<float>(std::sqrt(std::fmax(0.0, fsq / (w - 1) - fm * fm)));
  const bool howl = v.growth >= th_.lineMinGrowthDbPerS && sl * (w - 1) >= th_.lineMinRiseDb && v.residual <= th_.lineMaxResidualDb &&
                    v.bend >= th_.lineMinBend && v.hzStd <= th_.lineMaxHzStd && at(w - 1) >= th_.lineMinLevelDb;
  v.howl = howl ? 1.0f : 0.0f;
  l.now = v;
  if (howl && !l.howl) l.said = v;
  l.howl = l.howl || howl;
}

void HowlDetector::followPeak(double bin, float levelDb, float harmDb, float papr, float phpr, float pnpr, bool pass, bool loose, bool lineOk) noexcept {
  int best = -1;
  double bestD = 1.01;
  for (int i = 0; i < kMaxTracks; ++i) {
    if (!tracks_[i].live || seen_[i]) continue;
    const double d = std::fabs(tracks_[i].bin - bin);
    if (d < bestD) bestD = d, best = i;
  }
  if (best < 0) {
    if (!pass && !loose && !lineOk) return;  // only a peak that passes the ratios (or the young or line stage) starts a track
    for (int i = 0; i < kMaxTracks && best < 0; ++i)
      if (!tracks_[i].live) best = i;
    if (best < 0) {  // all busy: replace the track with the fewest hits
      int fewest = kHistory + 1;
      for (int i = 0; i < kMaxTracks; ++i) {
        if (seen_[i]) continue;
        int h = 0;
        for (bool b : tracks_[i].loose) h += b;
        if (h < fewest) fewest = h, best = i;
      }
      if (best < 0) return;
    }
    if (tracks_[best].line >= 0) lines_[tracks_[best].line].track = -1;
    tracks_[best] = Track{};
    tracks_[best].live = true;
    for (float& l : tracks_[best].level) l = kNoLevel;
    for (float& l : tracks_[best].harm) l = kNoLevel;
  }
  Track& t = tracks_[best];
  seen_[best] = true;
  t.bin = bin;
  t.level[t.head] = levelDb;
  t.harm[t.head] = harmDb;
  t.hit[t.head] = pass;
  t.loose[t.head] = pass || loose;
  t.head = (t.head + 1) % kHistory;
  t.age++;
  t.missing = 0;
  t.papr = papr, t.phpr = phpr, t.pnpr = pnpr;
  t.lineOk = lineOk || pass || loose;
}

int HowlDetector::analyse(const std::complex<float>* spec) noexcept {
  double sum = 0;
  for (int k = 0; k < bins_; ++k) {
    const float p = std::norm(spec[k]);
    power_[k] = p;
    if (k >= lo_ && k < hi_) sum += p;
  }
  const double mean = sum / (hi_ - lo_) + 1e-30;
  // The strongest local maxima, strongest first.
  int nPeaks = 0;
  for (int k = lo_; k < hi_; ++k) {
    const float p = power_[k];
    if (!(p > power_[k - 1] && p >= power_[k + 1])) continue;
    if (nPeaks == kMaxPeaks && p <= power_[peakBin_[kMaxPeaks - 1]]) continue;
    int j = nPeaks < kMaxPeaks ? nPeaks++ : kMaxPeaks - 1;
    while (j > 0 && power_[peakBin_[j - 1]] < p) {
      peakBin_[j] = peakBin_[j - 1];
      --j;
    }
    peakBin_[j] = k;
  }
  for (bool& s : seen_) s = false;
  // A Hann-windowed sine of amplitude A peaks at A N / 4 in magnitude.
  const double ampScale = 4.0 / n_;
  for (int i = 0; i < nPeaks; ++i) {
    const int k = peakBin_[i];
    const double a = 10 * std::log10(power_[k - 1] + 1e-30), b = 10 * std::log10(power_[k] + 1e-30),
                 c = 10 * std::log10(power_[k + 1] + 1e-30);
    const double den = a - 2 * b + c;
    const double off = den < 0 ? 0.5 * (a - c) / den : 0.0;
    const double peakDb = b - 0.25 * (a - c) * off;  // power dB at the interpolated peak
    const float levelDb = static_cast<float>(peakDb + 20 * std::log10(ampScale));
    const double bin = k + off;
    const float papr = db10(power_[k] / mean);
    double nb = 0;
    for (int d = 3; d <= 6; ++d) nb += power_[k - d] + power_[k + d];
    const float pnpr = db10(power_[k] / (nb / 8 + 1e-30));
    double harm = 0, harmBin = 0;
    const double mult[3] = {0.5, 2.0, 3.0};
    // A harmonic is a line at m times the peak's interpolated frequency, within a fraction of a bin
    // (a played note's partials sit there to a tenth of a bin); a line of the programme a
    // semitone away (440 Hz beside a howl at 853 / 2), or the skirt of its main lobe, is no
    // harmonic of the howl. Where no line is close enough nothing counts at that multiple.
    for (double m : mult) {
      const double hb = m * bin;
      const int h = static_cast<int>(std::lround(hb));
      if (h - 2 < 1 || h + 2 >= bins_) continue;
      for (int q = h - 1; q <= h + 1; ++q) harmBin = std::fmax(harmBin, power_[q]);
      double at = 0;
      const double tol = 0.2 + 0.1 * m;
      for (int q = h - 1; q <= h + 1; ++q) {
        if (!(power_[q] > power_[q - 1] && power_[q] >= power_[q + 1])) continue;
        const double qa = 10 * std::log10(power_[q - 1] + 1e-30), qb = 10 * std::log10(power_[q] + 1e-30),
                     qc = 10 * std::log10(power_[q + 1] + 1e-30);
        const double qd = qa - 2 * qb + qc;
        const double qpos = q + (qd < 0 ? 0.5 * (qa - qc) / qd : 0.0);
        if (std::fabs(qpos - hb) <= tol && power_[q] > at) at = power_[q];
      }
      if (at > harm) harm = at;
    }
    const float phpr = harm > 0 ? db10(power_[k] / harm) : 60.0f;
    const bool pass = levelDb >= th_.minLevelDb && papr >= th_.paprDb && pnpr >= th_.pnprDb && phpr >= th_.phprDb;
    const bool loose = levelDb >= th_.minLevelDb && papr >= th_.paprDb && phpr >= th_.phprDb && pnpr >= th_.youngPnprDb;
    const float harmDb = static_cast<float>(db10(harmBin) + 20 * std::log10(ampScale));
    const bool lineOk = levelDb >= th_.minLevelDb && papr >= th_.lineStartPaprDb && pnpr >= th_.lineStartPnprDb;
    followPeak(bin, levelDb, harmDb, papr, phpr, pnpr, pass, loose, lineOk && th_.lineStage);
  }
  // Tracks without a peak this frame: a miss in their history; gone after a whole history of misses.
  for (int i = 0; i < kMaxTracks; ++i) {
    Track& t = tracks_[i];
    if (!t.live || seen_[i]) continue;
    t.level[t.head] = kNoLevel;
    t.harm[t.head] = kNoLevel;
    t.hit[t.head] = false;
    t.loose[t.head] = false;
    t.head = (t.head + 1) % kHistory;
    t.age++;
    if (++t.missing >= kHistory) t.live = false;
    // A follower whose peak has been gone 3 frames is free for another.
    if (t.line >= 0 && (!t.live || t.missing >= 3)) {
      lines_[t.line].track = -1;
      t.line = -1;
    }
  }
  // Followers for peaks at the line stage (a follower whose track's frequency moved by over half a
  // bin starts again there).
  for (int i = 0; i < kMaxTracks; ++i) {
    Track& t = tracks_[i];
    if (!t.live || !seen_[i]) continue;
    if (t.line >= 0 && std::fabs(lines_[t.line].hz - t.bin * fs_ / n_) > 0.5 * fs_ / n_) {
      lines_[t.line].track = -1;
      t.line = -1;
    }
    if (t.line < 0 && t.lineOk) startLine(i);
  }
  const double fps = framesPerSecond();
  nOut_ = 0;
  for (int i = 0; i < kMaxTracks; ++i) {
    const Track& t = tracks_[i];
    if (!t.live || !seen_[i]) continue;
    const int last = (t.head + kHistory - 1) % kHistory;
    Line* line = t.line >= 0 ? &lines_[t.line] : nullptr;
    const bool lineHowl = line && line->howl && th_.lineStage;
    if (!t.loose[last] && !lineHowl) continue;
    int hits = 0, run = 0;
    for (bool h : t.hit) hits += h;
    for (int j = 0; j < kHistory && t.loose[(last + kHistory - j) % kHistory]; ++j) ++run;
    const double ipmp = static_cast<double>(hits) / kHistory;
    // Growth: least-squares slope of the level over the frames it was there (oldest first).
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int m = 0;
    for (int j = 0; j < kHistory; ++j) {
      const float l = t.level[(t.head + j) % kHistory];
      if (l <= kNoLevel) continue;
      sx += j, sy += l, sxx += static_cast<double>(j) * j, sxy += j * static_cast<double>(l);
      ++m;
    }
    const double dd = m * sxx - sx * sx;
    const double slope = m >= 3 && dd > 0 ? (m * sxy - sx * sy) / dd : 0.0;
    // How straight that rise is (R^2 of the fit) and its largest step from one frame to the next.
    const double my = m > 0 ? sy / m : 0, mx = m > 0 ? sx / m : 0;
    double res = 0, tot = 0, maxStep = 0, prev = kNoLevel, hsy = 0, hsxy = 0;
    for (int j = 0; j < kHistory; ++j) {
      const float l = t.level[(t.head + j) % kHistory];
      if (l <= kNoLevel) continue;
      const double e = l - (my + slope * (j - mx));
      res += e * e, tot += (l - my) * (l - my);
      if (prev > kNoLevel && l - prev > maxStep) maxStep = l - prev;
      const double hl = t.harm[(t.head + j) % kHistory];
      hsy += hl, hsxy += j * hl;
      prev = l;
    }
    const double r2 = m >= 3 && tot > 0 ? 1 - res / tot : 0.0;
    const double hslope = m >= 3 && dd > 0 ? (m * hsxy - sx * hsy) / dd : 0.0;
    // A young peak that passed every frame of a short run and grows fast is a candidate before
    // the IPMP window fills: a howl at +3 dB loop gain grows ~80 dB/s, 17 dB in those 9 frames.
    const bool youngAndGrowing = run >= th_.youngFrames && slope * fps >= th_.youngGrowthDbPerS;
    // Only a peak that passes every ratio now, or a young one, is a candidate.
    if (!(t.hit[last] && ipmp >= th_.ipmp) && !youngAndGrowing && !lineHowl) continue;
    HowlCandidate& o = out_[nOut_++];
    o.hz = static_cast<float>(t.bin * fs_ / n_);
    o.levelDb = t.level[last];
    o.growthDbPerS = static_cast<float>(slope * fps);
    o.paprDb = t.papr, o.phprDb = t.phpr, o.pnprDb = t.pnpr;
    o.ipmp = static_cast<float>(ipmp);
    o.ageFrames = static_cast<float>(t.age);
    o.fitR2 = static_cast<float>(r2);
    o.maxStepDb = static_cast<float>(maxStep);
    o.harmonicGrowthDbPerS = static_cast<float>(hslope * fps);
    const LineView lv = line && line->howl ? line->said : line ? line->now : LineView{-1, 0, 0, 0, 0};
    o.lineHowl = lv.howl, o.lineGrowthDbPerS = lv.growth, o.lineResidualDb = lv.residual, o.lineBend = lv.bend, o.lineHzStd = lv.hzStd;
  }
  for (Line& l : lines_) l.howl = false;
  // Strongest first.
  for (int i = 1; i < nOut_; ++i)
    for (int j = i; j > 0 && out_[j].levelDb > out_[j - 1].levelDb; --j) {
      const HowlCandidate tmp = out_[j];
      out_[j] = out_[j - 1];
      out_[j - 1] = tmp;
    }
  return nOut_;
}

}  // namespace features
