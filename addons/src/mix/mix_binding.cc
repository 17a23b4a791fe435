#include "mix/mix_binding.h"

#include <algorithm>
#include <string>
#include <vector>

#include "binding.h"
#include "engine.h"

namespace mixbinding {

namespace {

double num(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

std::vector<float> floats(const Napi::Object& o, const char* key) {
  std::vector<float> out;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return out;
  if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be an array");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length() && i < static_cast<uint32_t>(mix::kTapOutputs); i++) {
    out.push_back(static_cast<float>(a.Get(i).As<Napi::Number>().DoubleValue()));
  }
  return out;
}

// { gains: linear[], pans: [], bedGain: linear, compressor: { thresholdDb, ratio, kneeDb, attackMs, releaseMs, makeupDb, enabled } }
mix::Profile readProfile(const Napi::Object& o) {
  mix::Profile p;
  std::vector<float> g = floats(o, "gains"), pan = floats(o, "pans");
  for (size_t i = 0; i < g.size(); i++) p.gain[i] = g[i];
  for (size_t i = 0; i < pan.size(); i++) p.pan[i] = pan[i];
  p.bedGain = static_cast<float>(num(o, "bedGain", 0));
  std::vector<float> sg = floats(o, "stemGains"), sp = floats(o, "stemPans");
  for (size_t j = 0; j < sg.size() && j < static_cast<size_t>(mix::kMaxStems); j++) p.stemGain[j] = sg[j];
  for (size_t j = 0; j < sp.size() && j < static_cast<size_t>(mix::kMaxStems); j++) p.stemPan[j] = sp[j];
  Napi::Value c = o.Get("compressor");
  if (c.IsObject()) {
    Napi::Object co = c.As<Napi::Object>();
    p.compressor.thresholdDb = num(co, "thresholdDb", -20);
    p.compressor.ratio = num(co, "ratio", 2);
    p.compressor.kneeDb = num(co, "kneeDb", 6);
    p.compressor.attackMs = num(co, "attackMs", 10);
    p.compressor.releaseMs = num(co, "releaseMs", 200);
    p.compressor.makeupDb = num(co, "makeupDb", 0);
    p.compressor.enabled = co.Get("enabled").ToBoolean().Value();
  }
  return p;
}

// mixRender(profile, outputs: Float32Array[], bed: Float32Array) -> { left, right }: the same
// renderer the streamer runs, over whole signals, for tests and offline renders.
Napi::Value Render(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsArray() || !info[2].IsTypedArray()) {
    throw Napi::TypeError::New(env, "mixRender(profile, outputs[], bed)");
  }
  mix::Profile p = readProfile(info[0].As<Napi::Object>());
  Napi::Array arr = info[1].As<Napi::Array>();
  Napi::Float32Array bed = info[2].As<Napi::Float32Array>();
  const size_t n = bed.ElementLength();
  std::vector<const float*> outs;
  for (uint32_t k = 0; k < arr.Length() && k < static_cast<uint32_t>(mix::kTapOutputs); k++) {
    Napi::Float32Array a = arr.Get(k).As<Napi::Float32Array>();
    if (a.ElementLength() != n) throw Napi::RangeError::New(env, "every output must be as long as the bed");
    outs.push_back(a.Data());
  }
  mix::Renderer r(48000);
  r.setProfile(p);
  Napi::Float32Array left = Napi::Float32Array::New(env, n), right = Napi::Float32Array::New(env, n);
  constexpr size_t kStep = 480;
  std::vector<const float*> at(outs.size());
  for (size_t i = 0; i < n; i += kStep) {
    const int m = static_cast<int>(std::min(kStep, n - i));
    for (size_t k = 0; k < outs.size(); k++) at[k] = outs[k] + i;
    r.process(at.data(), static_cast<int>(outs.size()), bed.Data() + i, m, left.Data() + i, right.Data() + i);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("left", left);
  o.Set("right", right);
  return o;
}

}  // namespace

void Start(const Napi::CallbackInfo& info, engine::Engine* engine, int sampleRate, std::unique_ptr<mix::Streamer>& streamer) {
  Napi::Env env = info.Env();
  if (streamer) throw Napi::Error::New(env, "the mix streamer is already running");
  const int frameMs = info.Length() > 0 && info[0].IsObject() ? static_cast<int>(num(info[0].As<Napi::Object>(), "frameMs", 20)) : 20;
  try {
    streamer = std::make_unique<mix::Streamer>(engine, sampleRate, frameMs);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  streamer->start();
}

void SetStreams(const Napi::CallbackInfo& info, std::unique_ptr<mix::Streamer>& streamer) {
  Napi::Env env = info.Env();
  if (!streamer) throw Napi::Error::New(env, "the mix streamer is not running");
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "mixSetStreams(streams[])");
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<mix::StreamSpec> specs;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Object o = a.Get(i).As<Napi::Object>();
    mix::StreamSpec s;
    s.name = o.Get("name").As<Napi::String>().Utf8Value();
    s.host = o.Get("host").As<Napi::String>().Utf8Value();
    s.port = static_cast<int>(num(o, "port", 0));
    s.ssrc = static_cast<uint32_t>(num(o, "ssrc", 0));
    s.bitrate = static_cast<int>(num(o, "bitrate", 96000));
    s.profile = readProfile(o.Get("profile").As<Napi::Object>());
    specs.push_back(std::move(s));
  }
  std::string error;
  if (!streamer->setStreams(specs, &error)) throw Napi::Error::New(env, error);
}

Napi::Value Stats(const Napi::CallbackInfo& info, std::unique_ptr<mix::Streamer>& streamer) {
  Napi::Env env = info.Env();
  if (!streamer) return env.Null();
  mix::StreamerStats st = streamer->stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("running", st.running);
  o.Set("chunks", static_cast<double>(st.chunks));
  o.Set("frames", static_cast<double>(st.frames));
  o.Set("tapDrops", static_cast<double>(st.tapDrops));
  o.Set("gaps", static_cast<double>(st.gaps));
  o.Set("separated", static_cast<double>(st.separated));
  o.Set("separator", st.separator);
  o.Set("separatorCpuUs", st.separatorCpuUs);
  Napi::Array streams = Napi::Array::New(env, st.streams.size());
  for (size_t i = 0; i < st.streams.size(); i++) {
    const mix::StreamStats& s = st.streams[i];
    Napi::Object so = Napi::Object::New(env);
    so.Set("name", s.name);
    so.Set("packets", static_cast<double>(s.packets));
    so.Set("bytes", static_cast<double>(s.bytes));
    so.Set("sendErrors", static_cast<double>(s.sendErrors));
    so.Set("encodeErrors", static_cast<double>(s.encodeErrors));
    so.Set("lastErrno", s.lastErrno);
    so.Set("cpuUs", s.cpuUs);
    streams.Set(static_cast<uint32_t>(i), so);
  }
  o.Set("streams", streams);
  return o;
}

// mixSetDirections(slots: Array<{ azimuth, elevation?, active }>): where each stem slot points.
void SetDirections(const Napi::CallbackInfo& info, std::unique_ptr<mix::Streamer>& streamer) {
  Napi::Env env = info.Env();
  if (!streamer) throw Napi::Error::New(env, "the mix streamer is not running");
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "mixSetDirections(slots[])");
  Napi::Array a = info[0].As<Napi::Array>();
  double az[mix::kMaxStems] = {}, el[mix::kMaxStems] = {};
  bool on[mix::kMaxStems] = {};
  const int n = static_cast<int>(std::min<uint32_t>(a.Length(), mix::kMaxStems));
  for (int j = 0; j < n; j++) {
    Napi::Value v = a.Get(static_cast<uint32_t>(j));
    if (!v.IsObject()) continue;
    Napi::Object o = v.As<Napi::Object>();
    az[j] = num(o, "azimuth", 0);
    el[j] = num(o, "elevation", 0);
    on[j] = o.Get("active").ToBoolean().Value();
  }
  streamer->setDirections(az, el, on, n);
}

void Stop(std::unique_ptr<mix::Streamer>& streamer) { streamer.reset(); }

}  // namespace mixbinding

namespace binding {
void InitMix(Napi::Env env, Napi::Object exports) { exports.Set("mixRender", Napi::Function::New(env, mixbinding::Render)); }
}  // namespace binding
