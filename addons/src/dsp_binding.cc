// module.dsp: the pure DSP modules exposed one call at a time, for tests, benchmarks and offline
// tools. Options are validated and defaulted in firmware/engine/dsp.ts; here only types are
// re-checked (a TypeError names the bad argument) and data marshalled.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "binding.h"
#include "binding_args.h"
#include "dsp/beamformer.h"
#include "dsp/biquad.h"
#include "dsp/compressor.h"
#include "dsp/doa.h"
#include "dsp/fft.h"
#include "dsp/geometry.h"
#include "dsp/stage_sim.h"

namespace binding {

namespace {

dsp::BandParams band(const Napi::Object& o) {
  dsp::BandParams p;
  const Napi::Value t = o.Get("type");
  const std::string type = t.IsString() ? t.As<Napi::String>().Utf8Value() : "";
  if (type == "peak") p.type = dsp::BandType::Peak;
  else if (type == "lowshelf") p.type = dsp::BandType::LowShelf;
  else if (type == "highshelf") p.type = dsp::BandType::HighShelf;
  else if (type == "highpass") p.type = dsp::BandType::HighPass;
  else if (type == "lowpass") p.type = dsp::BandType::LowPass;
  else fail(o.Env(), "band.type must be peak, lowshelf, highshelf, highpass or lowpass");
  p.freqHz = num(o, "freqHz", p.freqHz);
  p.gainDb = num(o, "gainDb", p.gainDb);
  p.q = num(o, "q", p.q);
  const Napi::Value e = o.Get("enabled");
  p.enabled = e.IsUndefined() ? true : e.ToBoolean().Value();
  return p;
}

dsp::CompressorParams compressorParams(const Napi::Object& o) {
  dsp::CompressorParams p;
  p.thresholdDb = num(o, "thresholdDb", p.thresholdDb);
  p.ratio = num(o, "ratio", p.ratio);
  p.kneeDb = num(o, "kneeDb", p.kneeDb);
  p.attackMs = num(o, "attackMs", p.attackMs);
  p.releaseMs = num(o, "releaseMs", p.releaseMs);
  p.makeupDb = num(o, "makeupDb", p.makeupDb);
  const Napi::Value e = o.Get("enabled");
  p.enabled = e.IsUndefined() ? true : e.ToBoolean().Value();
  return p;
}

int blockArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return 256;
  const double b = argNum(info, i, "block");
  if (!(b >= 1 && b <= 65536)) fail(info.Env(), "block must be 1..65536");
  return static_cast<int>(b);
}

Napi::Value DesignBiquad(const Napi::CallbackInfo& info) {
  const dsp::BiquadCoeffs c = dsp::designBiquad(band(argObj(info, 0, "params")), argNum(info, 1, "sampleRate"));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("b0", c.b0), o.Set("b1", c.b1), o.Set("b2", c.b2), o.Set("a1", c.a1), o.Set("a2", c.a2);
  return o;
}

Napi::Value BiquadMagnitudeDb(const Napi::CallbackInfo& info) {
  const double sr = argNum(info, 1, "sampleRate");
  const dsp::BiquadCoeffs c = dsp::designBiquad(band(argObj(info, 0, "params")), sr);
  if (info.Length() < 3 || !info[2].IsArray()) fail(info.Env(), "freqs must be an array of numbers");
  const Napi::Array f = info[2].As<Napi::Array>();
  Napi::Array out = Napi::Array::New(info.Env(), f.Length());
  for (uint32_t i = 0; i < f.Length(); i++) {
    const Napi::Value v = f.Get(i);
    if (!v.IsNumber()) fail(info.Env(), "freqs must be an array of numbers");
    out.Set(i, dsp::magnitudeDb(c, v.As<Napi::Number>().DoubleValue(), sr));
  }
  return out;
}

// equalize(sampleRate, bands[], x, changes[{at, band, params}], block): bands start settled;
// each change is applied at the first block boundary at or after `at`.
Napi::Value Equalize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double sr = argNum(info, 0, "sampleRate");
  if (info.Length() < 2 || !info[1].IsArray()) fail(env, "bands must be an array");
  const Napi::Array bands = info[1].As<Napi::Array>();
  const Napi::Float32Array x = argF32(env, info[2], "x");
  if (info.Length() < 4 || !info[3].IsArray()) fail(env, "changes must be an array");
  const Napi::Array ch = info[3].As<Napi::Array>();
  const int block = blockArg(info, 4);
  dsp::ParametricEq eq(sr, std::max<int>(static_cast<int>(bands.Length()), 1));
  for (uint32_t i = 0; i < bands.Length(); i++) {
    if (!bands.Get(i).IsObject()) fail(env, "bands entries must be objects");
    eq.setBand(static_cast<int>(i), band(bands.Get(i).As<Napi::Object>()));
  }
  eq.reset();
  struct Change { double at; int band; dsp::BandParams p; };
  std::vector<Change> changes;
  for (uint32_t i = 0; i < ch.Length(); i++) {
    if (!ch.Get(i).IsObject()) fail(env, "changes entries must be objects");
    const Napi::Object c = ch.Get(i).As<Napi::Object>();
    const Napi::Value pv = c.Get("params");
    if (!pv.IsObject()) fail(env, "change.params must be an object");
    changes.push_back({num(c, "at", 0), static_cast<int>(num(c, "band", 0)), band(pv.As<Napi::Object>())});
  }
  const size_t n = x.ElementLength();
  Napi::Float32Array out = Napi::Float32Array::New(env, n);
  std::copy(x.Data(), x.Data() + n, out.Data());
  for (size_t start = 0; start < n; start += static_cast<size_t>(block)) {
    for (const auto& c : changes)
      if (c.at <= static_cast<double>(start) && c.at > static_cast<double>(start) - block) eq.setBand(c.band, c.p);
    eq.process(out.Data() + start, static_cast<int>(std::min<size_t>(block, n - start)));
  }
  return out;
}

Napi::Value Compress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dsp::CompressorParams p = compressorParams(argObj(info, 0, "params"));
  const double sr = argNum(info, 1, "sampleRate");
  const Napi::Float32Array x = argF32(env, info[2], "x");
  const int block = blockArg(info, 3);
  dsp::Compressor comp(sr);
  comp.setParams(p);
  comp.reset();
  const size_t n = x.ElementLength();
  Napi::Float32Array out = Napi::Float32Array::New(env, n);
  std::copy(x.Data(), x.Data() + n, out.Data());
  for (size_t s = 0; s < n; s += static_cast<size_t>(block))
    comp.process(out.Data() + s, static_cast<int>(std::min<size_t>(block, n - s)));
  return out;
}

std::unique_ptr<dsp::Beamformer> makeBeamformer(const Napi::CallbackInfo& info, const dsp::Geometry& g, size_t i, int block) {
  if (info.Length() <= i || !info[i].IsString()) fail(info.Env(), "kind must be 'das' or 'mvdr'");
  const std::string kind = info[i].As<Napi::String>().Utf8Value();
  if (kind == "das") return dsp::makeDelayAndSum(g, block);
  if (kind == "mvdr") return dsp::makeMvdr(g, block);
  fail(info.Env(), "kind must be 'das' or 'mvdr'");
}

void runBeam(dsp::Beamformer& bf, const std::vector<const float*>& in, size_t len, int block, float* out) {
  std::vector<const float*> ptrs(in.size());
  for (size_t s = 0; s < len; s += static_cast<size_t>(block)) {
    for (size_t c = 0; c < in.size(); c++) ptrs[c] = in[c] + s;
    bf.process(ptrs.data(), out + s, static_cast<int>(std::min<size_t>(block, len - s)));
  }
}

// beamform(geometry, kind, az, el, channels, block[, changes[{at, azimuth, elevation}]])
// -> Float32Array (latency included). Steering changes apply at the first block boundary at or
// after `at`, through the beamformer's own smoothing.
Napi::Value Beamform(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dsp::Geometry g = geometry(info, 0);
  const int block = blockArg(info, 5);
  auto bf = makeBeamformer(info, g, 1, block);
  // The first steer of a fresh beamformer is applied immediately for a clean measurement.
  bf->steer(argNum(info, 2, "azDeg"), argNum(info, 3, "elDeg"));
  bf->resetStream();
  struct Change { double at, az, el; };
  std::vector<Change> changes;
  if (info.Length() > 6 && !info[6].IsUndefined()) {
    if (!info[6].IsArray()) fail(env, "changes must be an array");
    const Napi::Array ch = info[6].As<Napi::Array>();
    for (uint32_t i = 0; i < ch.Length(); i++) {
      if (!ch.Get(i).IsObject()) fail(env, "changes entries must be objects");
      const Napi::Object c = ch.Get(i).As<Napi::Object>();
      changes.push_back({num(c, "at", 0), num(c, "azimuth", 0), num(c, "elevation", 0)});
    }
  }
  std::vector<const float*> in;
  const size_t len = channels(env, info[4], g.mics.size(), in);
  Napi::Float32Array out = Napi::Float32Array::New(env, len);
  std::vector<const float*> ptrs(in.size());
  for (size_t s = 0; s < len; s += static_cast<size_t>(block)) {
    for (const auto& c : changes)
      if (c.at <= static_cast<double>(s) && c.at > static_cast<double>(s) - block) bf->steer(c.az, c.el);
    for (size_t c = 0; c < in.size(); c++) ptrs[c] = in[c] + s;
    bf->process(ptrs.data(), out.Data() + s, static_cast<int>(std::min<size_t>(block, len - s)));
  }
  return out;
}

// beamformTrained(geometry, kind, az, el, train, block, inputs[]) -> Float32Array[]:
// learns on `train`, freezes adaptation, then runs each input (fresh stream, same weights).
// Because the weights are then fixed, each component of a mixture can be measured separately.
Napi::Value BeamformTrained(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dsp::Geometry g = geometry(info, 0);
  const int block = blockArg(info, 5);
  auto bf = makeBeamformer(info, g, 1, block);
  bf->steer(argNum(info, 2, "azDeg"), argNum(info, 3, "elDeg"));
  std::vector<const float*> in;
  size_t len = channels(env, info[4], g.mics.size(), in);
  std::vector<float> scratch(len);
  runBeam(*bf, in, len, block, scratch.data());
  bf->setAdaptation(false);
  if (info.Length() < 7 || !info[6].IsArray()) fail(env, "inputs must be an array of channel arrays");
  const Napi::Array inputs = info[6].As<Napi::Array>();
  Napi::Array result = Napi::Array::New(env, inputs.Length());
  for (uint32_t i = 0; i < inputs.Length(); i++) {
    len = channels(env, inputs.Get(i), g.mics.size(), in);
    bf->resetStream();
    Napi::Float32Array out = Napi::Float32Array::New(env, len);
    runBeam(*bf, in, len, block, out.Data());
    result.Set(i, out);
  }
  return result;
}

Napi::Value BeamformerLatency(const Napi::CallbackInfo& info) {
  const dsp::Geometry g = geometry(info, 0);
  return Napi::Number::New(info.Env(), makeBeamformer(info, g, 1, 64)->latencySamples());
}

// doa(geometry, channels, frameSize, hop) -> [{t, azimuth, elevation, confidence}], t = frame
// centre; hop 0 = frameSize / 2.
Napi::Value Doa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dsp::Geometry g = geometry(info, 0);
  std::vector<const float*> in;
  const size_t len = channels(env, info[1], g.mics.size(), in);
  const int frame = info.Length() > 2 && !info[2].IsUndefined() ? static_cast<int>(argNum(info, 2, "frameSize")) : 1024;
  if (frame < 64 || frame > 65536) fail(env, "frameSize must be 64..65536");
  const int hopArg = info.Length() > 3 && !info[3].IsUndefined() ? static_cast<int>(argNum(info, 3, "hop")) : 0;
  if (hopArg < 0 || hopArg > frame) fail(env, "hop must be 0..frameSize");
  dsp::SrpPhatDoa doa(g, frame, hopArg);
  const int hop = doa.hopSize(), n0 = dsp::nextPow2(std::max(frame, 64));
  Napi::Array out = Napi::Array::New(env);
  std::vector<const float*> ptrs(in.size());
  uint32_t k = 0;
  // The first frame completes after n0 samples, each later one a hop later: feed exactly that.
  for (size_t s = 0; s < len;) {
    const int n = static_cast<int>(std::min<size_t>(s == 0 ? n0 : hop, len - s));
    for (size_t c = 0; c < in.size(); c++) ptrs[c] = in[c] + s;
    doa.push(ptrs.data(), n);
    s += static_cast<size_t>(n);
    if (doa.hasNew()) {
      const dsp::DoaResult r = doa.latest();
      if (!r.valid) continue;
      Napi::Object o = Napi::Object::New(env);
      o.Set("t", (static_cast<double>(s) - n0 / 2.0) / g.sampleRate);
      o.Set("azimuth", r.azimuth), o.Set("elevation", r.elevation), o.Set("confidence", r.confidence);
      out.Set(k++, o);
    }
  }
  return out;
}

// simulateStage(geometry, sources[{azimuth, elevation, kind 0|1|2, freqHz, levelDb}], noiseDb,
// seed, frames, block) -> Float32Array[] (one per mic).
Napi::Value SimulateStage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dsp::Geometry g = geometry(info, 0);
  if (info.Length() < 2 || !info[1].IsArray()) fail(env, "sources must be an array");
  const Napi::Array src = info[1].As<Napi::Array>();
  std::vector<dsp::SimSourceSpec> specs;
  for (uint32_t i = 0; i < src.Length(); i++) {
    if (!src.Get(i).IsObject()) fail(env, "sources entries must be objects");
    const Napi::Object o = src.Get(i).As<Napi::Object>();
    dsp::SimSourceSpec s;
    s.azDeg = num(o, "azimuth", 0), s.elDeg = num(o, "elevation", 0);
    s.kind = static_cast<int>(num(o, "kind", 0));
    s.freqHz = num(o, "freqHz", s.freqHz), s.levelDb = num(o, "levelDb", s.levelDb);
    specs.push_back(s);
  }
  const double noiseDb = argNum(info, 2, "noiseDb");
  const uint32_t seed = static_cast<uint32_t>(argNum(info, 3, "seed"));
  const double frames = argNum(info, 4, "frames");
  if (!(frames >= 0 && frames <= 1e9)) fail(env, "frames must be 0..1e9");
  const int block = blockArg(info, 5);
  const size_t len = static_cast<size_t>(frames);
  dsp::StageSimulator sim(g, specs, noiseDb, seed, block);
  Napi::Array out = Napi::Array::New(env, g.mics.size());
  std::vector<float*> ptrs(g.mics.size());
  std::vector<Napi::Float32Array> arrs;
  for (size_t c = 0; c < g.mics.size(); c++) {
    arrs.push_back(Napi::Float32Array::New(env, len));
    out.Set(static_cast<uint32_t>(c), arrs.back());
  }
  for (size_t s = 0; s < len; s += static_cast<size_t>(block)) {
    for (size_t c = 0; c < ptrs.size(); c++) ptrs[c] = arrs[c].Data() + s;
    sim.render(ptrs.data(), static_cast<int>(std::min<size_t>(block, len - s)));
  }
  return out;
}

Napi::Value DescribeLayout(const Napi::CallbackInfo& info) {
  const dsp::ArrayLayout l = dsp::describeLayout(geometry(info, 0));
  static const char* names[] = {"single", "linear", "planar", "volumetric"};
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("shape", names[static_cast<int>(l.shape)]);
  Napi::Array axis = Napi::Array::New(info.Env(), 3);
  axis.Set(0u, l.axis.x), axis.Set(1u, l.axis.y), axis.Set(2u, l.axis.z);
  o.Set("axis", axis), o.Set("horizontal", l.horizontal), o.Set("radius", l.radius), o.Set("aperture", l.aperture);
  return o;
}

}  // namespace

void InitDsp(Napi::Env env, Napi::Object exports) {
  Napi::Object d = Napi::Object::New(env);
  d.Set("designBiquad", Napi::Function::New(env, DesignBiquad, "designBiquad"));
  d.Set("biquadMagnitudeDb", Napi::Function::New(env, BiquadMagnitudeDb, "biquadMagnitudeDb"));
  d.Set("equalize", Napi::Function::New(env, Equalize, "equalize"));
  d.Set("compress", Napi::Function::New(env, Compress, "compress"));
  d.Set("beamform", Napi::Function::New(env, Beamform, "beamform"));
  d.Set("beamformTrained", Napi::Function::New(env, BeamformTrained, "beamformTrained"));
  d.Set("beamformerLatency", Napi::Function::New(env, BeamformerLatency, "beamformerLatency"));
  d.Set("doa", Napi::Function::New(env, Doa, "doa"));
  d.Set("simulateStage", Napi::Function::New(env, SimulateStage, "simulateStage"));
  d.Set("describeLayout", Napi::Function::New(env, DescribeLayout, "describeLayout"));
  exports.Set("dsp", d);
}

}  // namespace binding
