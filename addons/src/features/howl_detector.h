// HowlDetector: acoustic feedback ("howl") candidates from a sequence of short-time spectra, on
// the features of van Waterschoot & Moonen, "Fifty years of acoustic feedback control" (Proc.
// IEEE 2011, sec. VI-A): per spectral peak the peak-to-average (PAPR), peak-to-harmonic (PHPR)
// and peak-to-neighbour (PNPR) power ratios, and the inter-frame peak magnitude persistence
// (IPMP: the share of recent frames in which the peak was there), plus the peak's growth (dB/s,
// least-squares slope of its level over the recent frames).
// A howl is one sinusoid that stands out of the spectrum (PAPR), has no harmonics and is not
// itself a harmonic (PHPR: an instrument's note has them), is narrower than any programme
// partial (PNPR) and holds still in frequency while it lasts or grows (IPMP).
// Sized at construction; analyse() never allocates, locks or blocks (it runs where the feature
// tap runs).
#pragma once
#include <complex>
#include <cstdint>
#include <vector>

namespace features {

// The PNPR a candidate needs on an output with a frequency shift on (firmware/inference/feedback.ts
// SHIFTED_HOWL_THRESHOLDS says the same): a shifted howl is a comb of components df apart wrapping
// around the loop's peak, so its peak stands less far over its neighbours than a steady howl's.
constexpr double kShiftedPnprDb = 6;

struct HowlThresholds {
  double paprDb = 10;   // peak over the mean power of the analysed band (a lone sine reaches ~25)
  double phprDb = 10;   // peak over its strongest harmonic or sub-harmonic (x0.5, x2, x3)
  double pnprDb = 15;   // peak over the power 3..6 bins away on both sides
  double ipmp = 0.75;   // share of the last kHistory frames the peak was there (and passed the ratios)
  double minLevelDb = -70;  // quieter peaks are ignored (dBFS, sine peak)
  int youngFrames = 4;      // ...or the last this many frames all passed
  double youngGrowthDbPerS = 20;  // ...and it grows at least this fast
  // A young track may run on peaks that pass PAPR and this looser PNPR, whatever their PHPR: while a
  // howl grows 50-200 dB/s its neighbouring room modes grow too (PNPR 5-14 dB) and programme lines
  // at its multiples come and go (PHPR jumps); the fusion judges such a candidate by how straight
  // it grows and whether its harmonics grow with it (harmonicGrowthDbPerS).
  double youngPnprDb = 15;
  // The fast line analysis (below): a peak with PAPR and PNPR at least these (a looser stage than a
  // candidate's) gets a line follower, and the follower's verdict needs all of these over the
  // last lineWindowMs: a rise at least lineMinGrowthDbPerS and lineMinRiseDb, straight (RMS
  // residual of the dB fit at most lineMaxResidualDb), not bending over (the slope of the window's
  // second half at least lineMinBend times that of its first half: a note's attack bends, a howl
  // does not until it saturates), its phase-derived frequency steady (standard deviation at most
  // lineMaxHzStd) and its level at least lineMinLevelDb (dBFS as a sine).
  double lineStartPaprDb = 10;
  double lineStartPnprDb = 6;
  double lineWindowMs = 43;
  double lineMinGrowthDbPerS = 60;
  double lineMinRiseDb = 2.5;
  double lineMaxResidualDb = 0.5;
  double lineMinBend = 0.6;
  double lineMaxHzStd = 2;
  double lineMinLevelDb = -60;
  // The line stage as an alarm path: a peak at the line stage starts a track (else only a candidate
  // or a young one does, and followers start on those), and a follower's "howl" publishes its track
  // as a candidate by itself. Off: on the tuning set the follower's verdict did not tell howls from
  // note onsets (docs/feedback.md, fourth round); the followers still run and publish their fields.
  bool lineStage = false;
  // How many line followers run (0 to kLines). 0 by default: they cost about 35 us per output per
  // 21 ms frame (4 followers) on the audio thread and nothing uses their fields unless the line
  // path is on; with 0 the line fields read lineHowl -1.
  int lineFollowers = 0;
};

// One candidate: kFloats (11) floats when published (FeatureTap kHowl record). fitR2 is the R^2 of
// the straight line the growth is the slope of; maxStepDb the largest rise from one frame to the
// next over the same frames (a note's attack is one big step; a howl rises evenly);
// harmonicGrowthDbPerS the slope, over the same frames, of the strongest bin at x0.5, x2 and x3 its
// frequency (a note's partials swell with it; the programme at a howl's multiples does not).
//
// The fast line fields (the line follower of the candidate's track, over its last lineWindowMs, as
// of the hop where it last said "howl", else its latest hop): lineHowl 1 when, since the previous
// frame, the follower's envelope rose straight and fast enough at a steady frequency (the verdict
// above), else 0 (-1: the track has no follower); lineGrowthDbPerS the slope of that envelope;
// lineResidualDb the RMS residual of its straight fit; lineBend the second half's slope over the
// first's; lineHzStd the standard deviation of its phase-derived frequency.
struct HowlCandidate {
  float hz, levelDb, growthDbPerS, paprDb, phprDb, pnprDb, ipmp, ageFrames, fitR2, maxStepDb, harmonicGrowthDbPerS;
  float lineHowl, lineGrowthDbPerS, lineResidualDb, lineBend, lineHzStd;
};

class HowlDetector {
 public:
  static constexpr int kMaxPeaks = 8;       // peaks examined per frame (strongest first)
  static constexpr int kMaxTracks = 8;      // peaks followed across frames
  static constexpr int kHistory = 12;       // frames of IPMP and growth (12 x 21 ms = 0.26 s at hop 1024)
  static constexpr int kFloats = 16;        // floats per published candidate
  // The fast line analysis: a follower per track that passed the line stage (PAPR, PNPR at
  // lineStart*), a complex demodulation at the track's frequency through 3 one-pole low-passes
  // (tau kLineTauMs: -3 dB at +-16 Hz, -30 dB at 100 Hz), its envelope and phase read every kLineHop
  // samples (2.7 ms at 48 kHz) into kLineHistory slots. Runs in feed(), on the samples themselves.
  static constexpr int kLines = 4;
  static constexpr int kLineHop = 128;
  static constexpr int kLineHistory = 48;   // 128 ms at 48 kHz
  static constexpr double kLineTauMs = 5;

  // fftSize and hop of the spectra fed to analyse(); spectra are of Hann-windowed frames.
  HowlDetector(double sampleRate, int fftSize, int hop, HowlThresholds th = {});

  // The PNPR threshold from now on (the engine sets kShiftedPnprDb while its output is shifted). Audio thread.
  void setPnprDb(double db) noexcept { th_.pnprDb = db; }
  double defaultPnprDb() const noexcept { return HowlThresholds{}.pnprDb; }
  // One frame: fftSize/2 + 1 bins. Returns the number of candidates now (see candidates()).
  int analyse(const std::complex<float>* spec) noexcept;
  // The same signal's samples, as they come (before or after the frame they end is analysed): the
  // line followers run on them. Optional: without it the line fields read -1 / 0.
  void feed(const float* x, int n) noexcept;
  // The current candidates (tracks that pass every ratio and the IPMP), strongest first.
  const HowlCandidate* candidates() const noexcept { return out_; }
  int candidateCount() const noexcept { return nOut_; }
  void reset() noexcept;
  double framesPerSecond() const noexcept { return fs_ / hop_; }

 private:
  struct Track {
    bool live = false;
    double bin = 0;              // interpolated bin
    float level[kHistory] = {};  // dBFS per frame (only frames where it was present are used)
    float harm[kHistory] = {};   // dBFS of the strongest bin at its multiples, per frame
    bool hit[kHistory] = {};     // present and passing the ratios in that frame
    bool loose[kHistory] = {};   // present and passing PAPR and youngPnprDb in that frame
    int head = 0;                // next history slot
    int age = 0, missing = 0;
    float papr = 0, phpr = 0, pnpr = 0;
    bool lineOk = false;         // passed the line stage in its latest frame
    int line = -1;               // its line follower, or -1
  };
  struct LineView {
    float howl = 0, growth = 0, residual = 0, bend = 0, hzStd = 0;
  };
  struct Line {
    int track = -1;                       // the track followed, or -1 (free)
    double hz = 0;
    std::complex<double> osc{1, 0}, rot{1, 0};
    std::complex<float> s1{}, s2{}, s3{};
    float env[kLineHistory] = {}, phase[kLineHistory] = {};
    int head = 0, n = 0;                  // hops recorded
    LineView now, said;                   // latest evaluation; the one that said howl since the last frame
    bool howl = false;
  };
  void startLine(int track) noexcept;
  void evaluateLine(Line& l) noexcept;
  void followPeak(double bin, float levelDb, float harmDb, float papr, float phpr, float pnpr, bool pass, bool loose, bool lineOk) noexcept;

  double fs_;
  int n_, hop_, bins_, lo_, hi_;
  HowlThresholds th_;
  std::vector<float> power_;
  int peakBin_[kMaxPeaks];
  Track tracks_[kMaxTracks];
  bool seen_[kMaxTracks];
  HowlCandidate out_[kMaxTracks];
  int nOut_ = 0;
  Line lines_[kLines];
  int lineFill_ = 0;       // samples since the last line hop
  int lineWindow_ = 16;    // hops per verdict
  int lineSettle_ = 6;     // hops after a start before a verdict (the low-passes settle)
  float lineA_ = 0;        // one-pole coefficient
};

}  // namespace features
