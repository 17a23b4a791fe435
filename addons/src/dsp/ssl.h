// Multi-source localisation (the SSL half of ODAS's SSL + SST, issue 17): SRP-PHAT over the
// array's direction grid, up to maxSources peaks per frame. The peaks are found one at a time:
// the strongest direction of the steered response, then each pair's correlation is cleared
// around that direction's lag (its contribution removed) and the grid searched again, so a
// strong talker's sidelobes do not come back as a second source. Each peak carries its energy
// (the mean PHAT-weighted pair correlation at it, 0..1); peaks below minEnergy, or below
// relEnergy times the first peak's, are dropped.
// Separate from doa.cc (the one-direction estimator the engine runs): same conventions
// (geometry.h: azimuth from +x toward +y; a line reports the angle to its axis; a horizontal
// plane reports elevation 0..90).
// Real-time safety: the constructor allocates; push, hasNew and peaks are noexcept, allocate
// nothing, take no lock and make no syscall.
#pragma once
#include <memory>

#include "dsp/geometry.h"

namespace dsp {

struct SslPeak {
  double azimuth, elevation, energy;  // degrees, degrees, 0..1
};

struct SslOptions {
  int frameSize = 1024;  // rounded up to a power of two
  int hop = 0;           // <= 0: frameSize / 2
  int maxSources = 4;    // 1..kSslMaxSources
  double minEnergy = 0.05;
  double relEnergy = 0.1;
  double smoothing = 0.5;  // one-pole average of the pair correlations across hops
};

constexpr int kSslMaxSources = 8;

class MultiSourceSsl {
 public:
  MultiSourceSsl(const Geometry& g, const SslOptions& o);
  ~MultiSourceSsl();
  MultiSourceSsl(MultiSourceSsl&&) noexcept;
  MultiSourceSsl& operator=(MultiSourceSsl&&) noexcept;

  void push(const float* const* in, int frames) noexcept;
  bool hasNew() const noexcept;
  // The latest frame's peaks, strongest first, into out (room for kSslMaxSources); returns how
  // many (0 for silence). Clears hasNew().
  int peaks(SslPeak* out) noexcept;
  int hopSize() const noexcept;
  int frameSize() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsp
