// module.sep: the multi-source localiser (dsp/ssl.h) and the beam + post-filter separator
// (sep/beam_separator.h) over whole recordings, for `firmware process --stems`, tests and the
// bench. Options are validated and defaulted in firmware/mix/separation.ts; here only types are
// re-checked and data marshalled.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "binding.h"
#include "binding_args.h"
#include "dsp/ssl.h"
#include "sep/beam_separator.h"

namespace binding {

namespace {

// localise(geometry, channels, {frameSize, hop, maxSources, minEnergy, relEnergy, smoothing})
// -> {hop, frameSize, frames: [[azimuth, elevation, energy, ...], ...]}: every hop, frame f
// centred at frameSize / 2 + f * hop samples; an empty list for silence.
Napi::Value Localise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dsp::Geometry g = geometry(info, 0);
  std::vector<const float*> in;
  const size_t len = channels(env, info[1], g.mics.size(), in);
  const Napi::Object o = argObj(info, 2, "options");
  dsp::SslOptions so;
  so.frameSize = static_cast<int>(num(o, "frameSize", so.frameSize));
  so.hop = static_cast<int>(num(o, "hop", so.hop));
  so.maxSources = static_cast<int>(num(o, "maxSources", so.maxSources));
  so.minEnergy = num(o, "minEnergy", so.minEnergy);
  so.relEnergy = num(o, "relEnergy", so.relEnergy);
  so.smoothing = num(o, "smoothing", so.smoothing);
  dsp::MultiSourceSsl ssl(g, so);
  const int hop = ssl.hopSize(), n0 = ssl.frameSize();
  Napi::Array frames = Napi::Array::New(env);
  std::vector<const float*> ptrs(in.size());
  dsp::SslPeak peaks[dsp::kSslMaxSources];
  uint32_t k = 0;
  for (size_t s = 0; s < len;) {
    const int n = static_cast<int>(std::min<size_t>(s == 0 ? n0 : hop, len - s));
    for (size_t c = 0; c < in.size(); c++) ptrs[c] = in[c] + s;
    ssl.push(ptrs.data(), n);
    s += static_cast<size_t>(n);
    if (!ssl.hasNew()) continue;
    const int count = ssl.peaks(peaks);
    Napi::Float64Array f = Napi::Float64Array::New(env, static_cast<size_t>(count) * 3);
    for (int i = 0; i < count; i++) {
      f[static_cast<size_t>(3 * i)] = peaks[i].azimuth;
      f[static_cast<size_t>(3 * i + 1)] = peaks[i].elevation;
      f[static_cast<size_t>(3 * i + 2)] = peaks[i].energy;
    }
    frames.Set(k++, f);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("hop", hop), out.Set("frameSize", n0), out.Set("frames", frames);
  return out;
}

struct HopFeed {
  sep::BeamSeparator* sep;
  const double* dirs;  // hops x sources x 2 (azimuth, elevation); NaN azimuth: inactive
  size_t hops, at;
  int sources;
  std::vector<double> az, el;
  std::vector<char> act;
};

void feedHop(void* ctx) {
  HopFeed& h = *static_cast<HopFeed*>(ctx);
  const size_t row = std::min(h.at++, h.hops ? h.hops - 1 : 0);
  bool act[sep::kMaxSources];
  for (int j = 0; j < h.sources; j++) {
    const double a = h.hops ? h.dirs[(row * h.sources + j) * 2] : NAN;
    act[j] = std::isfinite(a);
    h.az[static_cast<size_t>(j)] = act[j] ? a : 0;
    h.el[static_cast<size_t>(j)] = act[j] ? h.dirs[(row * h.sources + j) * 2 + 1] : 0;
  }
  h.sep->setDirections(h.az.data(), h.el.data(), act);
}

// separate(geometry, channels, {frameSize, sources, sharpness, floor, smoothing}, directions:
// Float64Array hops x sources x [azimuth, elevation]) -> {stems[], beams[], residual, latency, hop}.
// Hop h (0-based) is the frame over input samples [(h + 1) hop - frameSize, (h + 1) hop); outputs
// lag the input by `latency` samples and run that much longer (the tail flushed with silence).
Napi::Value Separate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dsp::Geometry g = geometry(info, 0);
  std::vector<const float*> in;
  const size_t len = channels(env, info[1], g.mics.size(), in);
  const Napi::Object o = argObj(info, 2, "options");
  sep::SeparatorOptions so;
  so.frameSize = static_cast<int>(num(o, "frameSize", so.frameSize));
  so.sources = std::clamp(static_cast<int>(num(o, "sources", so.sources)), 1, sep::kMaxSources);
  so.sharpness = num(o, "sharpness", so.sharpness);
  so.floor = num(o, "floor", so.floor);
  so.smoothing = num(o, "smoothing", so.smoothing);
  if (info.Length() < 4 || !info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    fail(env, "directions must be a Float64Array");
  const Napi::Float64Array dirs = info[3].As<Napi::Float64Array>();
  if (dirs.ElementLength() % static_cast<size_t>(2 * so.sources) != 0) fail(env, "directions must hold sources x 2 numbers per hop");
  sep::BeamSeparator sepr(g, so);
  const size_t total = len + static_cast<size_t>(sepr.latency());  // the tail flushed with silence
  HopFeed feed{&sepr, dirs.Data(), dirs.ElementLength() / static_cast<size_t>(2 * so.sources), 0, so.sources,
               std::vector<double>(static_cast<size_t>(so.sources)), std::vector<double>(static_cast<size_t>(so.sources)), {}};
  std::vector<Napi::Float32Array> stems, beams;
  std::vector<float*> sp, bp;
  Napi::Array sa = Napi::Array::New(env), ba = Napi::Array::New(env);
  for (int j = 0; j < so.sources; j++) {
    stems.push_back(Napi::Float32Array::New(env, total));
    beams.push_back(Napi::Float32Array::New(env, total));
    sp.push_back(stems.back().Data()), bp.push_back(beams.back().Data());
    sa.Set(static_cast<uint32_t>(j), stems.back()), ba.Set(static_cast<uint32_t>(j), beams.back());
  }
  Napi::Float32Array residual = Napi::Float32Array::New(env, total);
  const size_t chunk = 4096;
  std::vector<const float*> ip(in.size());
  std::vector<float*> spo(sp.size()), bpo(bp.size());
  const std::vector<float> silence(chunk, 0.f);
  for (size_t s = 0; s < total;) {
    const int n = static_cast<int>(std::min(chunk, s < len ? len - s : total - s));
    for (size_t c = 0; c < in.size(); c++) ip[c] = s < len ? in[c] + s : silence.data();
    for (size_t j = 0; j < sp.size(); j++) spo[j] = sp[j] + s, bpo[j] = bp[j] + s;
    sepr.process(ip.data(), spo.data(), bpo.data(), residual.Data() + s, n, feedHop, &feed);
    s += static_cast<size_t>(n);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("stems", sa), out.Set("beams", ba), out.Set("residual", residual);
  out.Set("latency", sepr.latency()), out.Set("hop", sepr.hopSize());
  return out;
}

}  // namespace

void InitSep(Napi::Env env, Napi::Object exports) {
  Napi::Object s = Napi::Object::New(env);
  s.Set("localise", Napi::Function::New(env, Localise, "localise"));
  s.Set("separate", Napi::Function::New(env, Separate, "separate"));
  exports.Set("sep", s);
}

}  // namespace binding
