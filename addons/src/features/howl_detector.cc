#include "features/howl_detector.h"

#include <cmath>

namespace features {

namespace {
constexpr float kNoLevel = -1000.0f;
inline float db10(double p) { return static_cast<float>(10.0 * std::log10(p + 1e-30)); }
}  // namespace

HowlDetector::HowlDetector(double sampleRate, int fftSize, int hop, HowlThresholds th)
    : fs_(sampleRate), n_(fftSize), hop_(hop), bins_(fftSize / 2 + 1), th_(th), power_(fftSize / 2 + 1, 0.0f) {
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
  nOut_ = 0;
}

void HowlDetector::followPeak(double bin, float levelDb, float harmDb, float papr, float phpr, float pnpr, bool pass, bool loose) noexcept {
  int best = -1;
  double bestD = 1.01;
  for (int i = 0; i < kMaxTracks; ++i) {
    if (!tracks_[i].live || seen_[i]) continue;
    const double d = std::fabs(tracks_[i].bin - bin);
    if (d < bestD) bestD = d, best = i;
  }
  if (best < 0) {
    if (!pass && !loose) return;  // only a peak that passes the ratios (or the young ones) starts a track
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
    followPeak(bin, levelDb, harmDb, papr, phpr, pnpr, pass, loose);
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
  }
  const double fps = framesPerSecond();
  nOut_ = 0;
  for (int i = 0; i < kMaxTracks; ++i) {
    const Track& t = tracks_[i];
    if (!t.live || !seen_[i]) continue;
    const int last = (t.head + kHistory - 1) % kHistory;
    if (!t.loose[last]) continue;
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
    if (!(t.hit[last] && ipmp >= th_.ipmp) && !youngAndGrowing) continue;
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
  }
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
