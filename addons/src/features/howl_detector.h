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
};

// One candidate: kFloats (11) floats when published (FeatureTap kHowl record). fitR2 is the R^2 of
// the straight line the growth is the slope of; maxStepDb the largest rise from one frame to the
// next over the same frames (a note's attack is one big step; a howl rises evenly);
// harmonicGrowthDbPerS the slope, over the same frames, of the strongest bin at x0.5, x2 and x3 its
// frequency (a note's partials swell with it; the programme at a howl's multiples does not).
struct HowlCandidate {
  float hz, levelDb, growthDbPerS, paprDb, phprDb, pnprDb, ipmp, ageFrames, fitR2, maxStepDb, harmonicGrowthDbPerS;
};

class HowlDetector {
 public:
  static constexpr int kMaxPeaks = 8;       // peaks examined per frame (strongest first)
  static constexpr int kMaxTracks = 8;      // peaks followed across frames
  static constexpr int kHistory = 12;       // frames of IPMP and growth (12 x 21 ms = 0.26 s at hop 1024)
  static constexpr int kFloats = 11;        // floats per published candidate

  // fftSize and hop of the spectra fed to analyse(); spectra are of Hann-windowed frames.
  HowlDetector(double sampleRate, int fftSize, int hop, HowlThresholds th = {});

  // One frame: fftSize/2 + 1 bins. Returns the number of candidates now (see candidates()).
  int analyse(const std::complex<float>* spec) noexcept;
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
  };
  void followPeak(double bin, float levelDb, float harmDb, float papr, float phpr, float pnpr, bool pass, bool loose) noexcept;

  double fs_;
  int n_, hop_, bins_, lo_, hi_;
  HowlThresholds th_;
  std::vector<float> power_;
  int peakBin_[kMaxPeaks];
  Track tracks_[kMaxTracks];
  bool seen_[kMaxTracks];
  HowlCandidate out_[kMaxTracks];
  int nOut_ = 0;
};

}  // namespace features
