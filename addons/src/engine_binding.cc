// The JavaScript face of the engine core: an `Engine` class. firmware/engine/engine.ts validates
// and defaults every option; this file only re-checks types, copies the plain object into an
// engine::EngineConfig, and turns ring records into plain objects. No per-block sample data
// crosses into JS; the only arrays are the sim backend's recordings, handed over after stop().
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "binding.h"
#include "engine.h"
#include "binding_args.h"
#include "mix/mix_binding.h"
#include "rt.h"

namespace {

using engine::EngineConfig;

// ---- option reading: types only; ranges were checked in TypeScript ----

Napi::Value field(const Napi::Object& o, const char* key) { return o.Get(key); }

double num(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = field(o, key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("engine option ") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool boolean(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = field(o, key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) throw Napi::TypeError::New(o.Env(), std::string("engine option ") + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string str(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = field(o, key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("engine option ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::Array arr(const Napi::Object& o, const char* key) {
  Napi::Value v = field(o, key);
  if (v.IsUndefined()) return Napi::Array::New(o.Env(), 0);
  if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), std::string("engine option ") + key + " must be an array");
  return v.As<Napi::Array>();
}

Napi::Object objAt(const Napi::Array& a, uint32_t i, const char* what) {
  Napi::Value v = a.Get(i);
  if (!v.IsObject()) throw Napi::TypeError::New(a.Env(), std::string("engine option ") + what + " must hold objects");
  return v.As<Napi::Object>();
}

double numAt(const Napi::Array& a, uint32_t i, const char* what) {
  Napi::Value v = a.Get(i);
  if (!v.IsNumber()) throw Napi::TypeError::New(a.Env(), std::string("engine option ") + what + " must hold numbers");
  return v.As<Napi::Number>().DoubleValue();
}

// One AES67 stream record (firmware/engine/aes67-options.ts NativeAes67Stream).
engine::Aes67Stream aes67Stream(const Napi::Object& so) {
  engine::Aes67Stream st;
  st.address = str(so, "address", "");
  st.port = static_cast<int>(num(so, "port", st.port));
  st.iface = str(so, "iface", "");
  st.channels = static_cast<int>(num(so, "channels", st.channels));
  st.firstChannel = static_cast<int>(num(so, "firstChannel", st.firstChannel));
  st.bits = static_cast<int>(num(so, "bits", st.bits));
  st.payloadType = static_cast<int>(num(so, "payloadType", st.payloadType));
  st.ptimeUs = static_cast<int>(num(so, "ptimeUs", st.ptimeUs));
  st.linkOffsetUs = static_cast<int>(num(so, "linkOffsetUs", st.linkOffsetUs));
  st.ssrc = static_cast<unsigned>(num(so, "ssrc", 0));
  st.ttl = static_cast<int>(num(so, "ttl", st.ttl));
  st.priority = static_cast<int>(num(so, "priority", st.priority));
  st.failoverLossPct = num(so, "failoverLossPct", st.failoverLossPct);
  st.returnMs = static_cast<int>(num(so, "returnMs", st.returnMs));
  st.mediaClockOffset = static_cast<uint32_t>(num(so, "mediaClockOffset", 0));
  return st;
}

EngineConfig readConfig(const Napi::Object& o) {
  EngineConfig c;
  c.backend = str(o, "backend", c.backend);
  c.sampleRate = static_cast<int>(num(o, "sampleRate", c.sampleRate));
  c.blockSize = static_cast<int>(num(o, "blockSize", c.blockSize));
  c.inputs = static_cast<int>(num(o, "inputs", c.inputs));
  c.outputs = static_cast<int>(num(o, "outputs", c.outputs));
  Napi::Array dry = arr(o, "dryMap");
  for (uint32_t i = 0; i < dry.Length(); i++) c.dryMap.push_back(static_cast<int>(numAt(dry, i, "dryMap")));
  Napi::Array mics = arr(o, "mics");
  for (uint32_t i = 0; i < mics.Length(); i++) {
    Napi::Value v = mics.Get(i);
    if (!v.IsArray() || v.As<Napi::Array>().Length() != 3) throw Napi::TypeError::New(o.Env(), "engine option mics must hold [x,y,z]");
    Napi::Array m = v.As<Napi::Array>();
    c.mics.push_back({numAt(m, 0, "mics"), numAt(m, 1, "mics"), numAt(m, 2, "mics")});
  }
  Napi::Array beams = arr(o, "beams");
  for (uint32_t i = 0; i < beams.Length(); i++) {
    Napi::Object b = objAt(beams, i, "beams");
    engine::BeamConfig bc;
    bc.kind = str(b, "kind", "das");
    bc.azDeg = num(b, "azimuth", 0);
    bc.elDeg = num(b, "elevation", 0);
    bc.autoSteer = boolean(b, "auto", false);
    c.beams.push_back(bc);
  }
  c.doa = boolean(o, "doa", c.doa);
  c.doaThread = boolean(o, "doaThread", c.doaThread);
  c.doaFrameSize = static_cast<int>(num(o, "doaFrameSize", c.doaFrameSize));
  c.doaSmoothing = num(o, "doaSmoothing", c.doaSmoothing);
  c.doaMinConfidence = num(o, "doaMinConfidence", c.doaMinConfidence);
  c.crossfadeMs = num(o, "crossfadeMs", c.crossfadeMs);
  c.heartbeatTimeoutMs = num(o, "heartbeatTimeoutMs", c.heartbeatTimeoutMs);
  c.runawayDb = num(o, "runawayDb", c.runawayDb);
  c.overrunBlocks = static_cast<int>(num(o, "overrunBlocks", c.overrunBlocks));
  c.budgetFraction = num(o, "budgetFraction", c.budgetFraction);
  c.startProcessed = boolean(o, "startProcessed", c.startProcessed);
  c.realtimePriority = boolean(o, "realtimePriority", c.realtimePriority);
  c.inPath = str(o, "inPath", "");
  c.losslessFeatures = boolean(o, "losslessFeatures", c.losslessFeatures);
  c.inFrom = static_cast<int64_t>(num(o, "inFrom", 0));
  c.inTo = static_cast<int64_t>(num(o, "inTo", -1));
  Napi::Array cols = arr(o, "inColumns");
  for (uint32_t i = 0; i < cols.Length(); i++) {
    Napi::Array parts = cols.Get(i).As<Napi::Array>();
    std::vector<std::string> col;
    for (uint32_t k = 0; k < parts.Length(); k++) col.push_back(parts.Get(k).ToString().Utf8Value());
    c.inColumns.push_back(std::move(col));
  }
  c.outPath = str(o, "outPath", "");
  c.outFormat = str(o, "outFormat", c.outFormat);
  Napi::Array sources = arr(o, "simSources");
  for (uint32_t i = 0; i < sources.Length(); i++) {
    Napi::Object s = objAt(sources, i, "simSources");
    engine::SimSource src;
    src.azDeg = num(s, "azimuth", 0);
    src.elDeg = num(s, "elevation", 0);
    src.kind = static_cast<int>(num(s, "kind", 0));
    src.freqHz = num(s, "freqHz", 1000);
    src.levelDb = num(s, "levelDb", -20);
    c.simSources.push_back(src);
  }
  c.simNoiseDb = num(o, "simNoiseDb", c.simNoiseDb);
  c.simSeed = static_cast<unsigned>(num(o, "simSeed", c.simSeed));
  c.simPaced = boolean(o, "simPaced", c.simPaced);
  c.recordSeconds = num(o, "recordSeconds", c.recordSeconds);
  if (o.Has("simLoop") && o.Get("simLoop").IsObject()) {
    const Napi::Object l = o.Get("simLoop").As<Napi::Object>();
    c.simLoop.enabled = true;
    c.simLoop.output = static_cast<int>(num(l, "output", 0));
    Napi::Array ins = arr(l, "inputs");
    for (uint32_t i = 0; i < ins.Length(); i++) c.simLoop.inputs.push_back(static_cast<int>(ins.Get(i).ToNumber().Int32Value()));
    c.simLoop.gainDb = num(l, "gainDb", c.simLoop.gainDb);
    if (l.Get("room").IsObject()) c.simLoop.room = binding::roomSpec(l.Get("room").As<Napi::Object>());
  }
  c.maxBlocks = static_cast<long long>(num(o, "maxBlocks", 0));
  c.captureDevice = str(o, "captureDevice", "");
  c.playbackDevice = str(o, "playbackDevice", "");
  c.alsaPeriods = static_cast<int>(num(o, "alsaPeriods", c.alsaPeriods));
  for (const char* key : {"aes67Rx", "aes67Tx"}) {
    Napi::Array streams = arr(o, key);
    for (uint32_t i = 0; i < streams.Length(); i++) (std::string(key) == "aes67Rx" ? c.aes67Rx : c.aes67Tx).push_back(aes67Stream(objAt(streams, i, key)));
  }
  c.aes67RxSlots = static_cast<int>(num(o, "aes67RxSlots", c.aes67RxSlots));
  c.aes67TxSlots = static_cast<int>(num(o, "aes67TxSlots", c.aes67TxSlots));
  return c;
}

const char* causeName(uint32_t cause) {
  switch (cause) {
    case engine::kCauseHeartbeat: return "heartbeat-stale";
    case engine::kCauseOverrun: return "dsp-overrun";
    case engine::kCauseNonFinite: return "non-finite-output";
    case engine::kCauseRunaway: return "runaway-output";
    default: return nullptr;
  }
}

double toDb(float linear) { return linear > 1e-10f ? 20.0 * std::log10(linear) : -200.0; }

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {
                           InstanceMethod<&EngineWrap::Start>("start"),
                           InstanceMethod<&EngineWrap::Stop>("stop"),
                           InstanceMethod<&EngineWrap::RunBlocks>("runBlocks"),
                           InstanceMethod<&EngineWrap::Heartbeat>("heartbeat"),
                           InstanceMethod<&EngineWrap::SetProcessing>("setProcessing"),
                           InstanceMethod<&EngineWrap::SetInputTrim>("setInputTrim"),
                           InstanceMethod<&EngineWrap::SetOutputGain>("setOutputGain"),
                           InstanceMethod<&EngineWrap::SetEq>("setEq"),
                           InstanceMethod<&EngineWrap::SetNotch>("setNotch"),
                           InstanceMethod<&EngineWrap::SetShift>("setShift"),
                           InstanceMethod<&EngineWrap::SetCompressor>("setCompressor"),
                           InstanceMethod<&EngineWrap::SteerBeam>("steerBeam"),
                           InstanceMethod<&EngineWrap::SetBeamAuto>("setBeamAuto"),
                           InstanceMethod<&EngineWrap::SetBeamformer>("setBeamformer"),
                           InstanceMethod<&EngineWrap::InjectDspSpin>("injectDspSpin"),
                           InstanceMethod<&EngineWrap::InjectAudioStall>("injectAudioStall"),
                           InstanceMethod<&EngineWrap::InjectNonFinite>("injectNonFinite"),
                           InstanceMethod<&EngineWrap::StartSentinel>("startSentinel"),
                           InstanceMethod<&EngineWrap::SentinelWithhold>("sentinelWithhold"),
                           InstanceMethod<&EngineWrap::SentinelRelayOn>("sentinelRelayOn"),
                           InstanceMethod<&EngineWrap::SentinelStats>("sentinelStats"),
                           InstanceMethod<&EngineWrap::Poll>("poll"),
                           InstanceMethod<&EngineWrap::PollFeatures>("pollFeatures"),
                           InstanceMethod<&EngineWrap::Stats>("stats"),
                           InstanceMethod<&EngineWrap::BlockCounter>("blockCounter"),
                           InstanceMethod<&EngineWrap::Recording>("recording"),
                           InstanceMethod<&EngineWrap::LatencySamples>("latencySamples"),
                           InstanceMethod<&EngineWrap::Beams>("beams"),
                           InstanceMethod<&EngineWrap::TotalFrames>("totalFrames"),
                           InstanceMethod<&EngineWrap::MixStart>("mixStart"),
                           InstanceMethod<&EngineWrap::MixSetStreams>("mixSetStreams"),
                           InstanceMethod<&EngineWrap::MixStats>("mixStats"),
                           InstanceMethod<&EngineWrap::MixSetDirections>("mixSetDirections"),
                           InstanceMethod<&EngineWrap::MixStop>("mixStop"),
                           InstanceMethod<&EngineWrap::FileLevels>("fileLevels"),
                           InstanceMethod<&EngineWrap::NetStats>("netStats"),
                           InstanceMethod<&EngineWrap::SetMediaClockLocked>("setMediaClockLocked"),
                           InstanceMethod<&EngineWrap::SetTracking>("setTracking"),
                           InstanceMethod<&EngineWrap::PollPeaks>("pollPeaks"),
                           InstanceMethod<&EngineWrap::Aes67Add>("aes67Add"),
                           InstanceMethod<&EngineWrap::Aes67RemoveBegin>("aes67RemoveBegin"),
                           InstanceMethod<&EngineWrap::Aes67RemoveFinish>("aes67RemoveFinish"),
                       });
  }

  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "Engine needs an options object");
    EngineConfig config = readConfig(info[0].As<Napi::Object>());
    try {
      engine_ = std::make_unique<engine::Engine>(config);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    env_ = env;
    // The engine's thread must be joined before its environment (main thread or a worker)
    // goes away, even if JS never calls stop().
    napi_add_env_cleanup_hook(env, &EngineWrap::OnEnvTeardown, this);
    hookAdded_ = true;
  }

  ~EngineWrap() override {
    RemoveHook();
    mixbinding::Stop(mix_);
    if (engine_) engine_->stop(nullptr);
  }

 private:
  static void OnEnvTeardown(void* arg) {
    auto* self = static_cast<EngineWrap*>(arg);
    self->hookAdded_ = false;
    mixbinding::Stop(self->mix_);
    if (self->engine_) self->engine_->stop(nullptr);
  }

  void RemoveHook() {
    if (hookAdded_) {
      napi_remove_env_cleanup_hook(env_, &EngineWrap::OnEnvTeardown, this);
      hookAdded_ = false;
    }
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    std::string error;
    if (!engine_->start(&error)) throw Napi::Error::New(info.Env(), error);
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    std::string error;
    const bool ok = engine_->stop(&error);
    if (!ok) throw Napi::Error::New(info.Env(), error);
    return info.Env().Undefined();
  }

  // Sequential mode: opens the backend on first use and runs blocks on this (JS) thread.
  Napi::Value RunBlocks(const Napi::CallbackInfo& info) {
    std::string error;
    if (!engine_->open(&error)) throw Napi::Error::New(info.Env(), error);
    return Napi::Number::New(info.Env(), static_cast<double>(engine_->runBlocks(static_cast<long long>(arg(info, 0)))));
  }

  Napi::Value Heartbeat(const Napi::CallbackInfo& info) {
    engine_->heartbeat();
    return info.Env().Undefined();
  }

  Napi::Value SetProcessing(const Napi::CallbackInfo& info) {
    engine_->setProcessing(info[0].ToBoolean().Value());
    return info.Env().Undefined();
  }

  static double arg(const Napi::CallbackInfo& info, size_t i) {
    if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a number argument");
    return info[i].As<Napi::Number>().DoubleValue();
  }

  Napi::Value Send(const Napi::CallbackInfo& info, const engine::Command& c) {
    return Napi::Boolean::New(info.Env(), engine_->pushCommand(c));
  }

  Napi::Value SetInputTrim(const Napi::CallbackInfo& info) {
    engine::Command c;
    c.id = engine::kCmdSetInputTrim;
    c.target = static_cast<int32_t>(arg(info, 0));
    c.v[0] = arg(info, 1);
    return Send(info, c);
  }

  Napi::Value SetOutputGain(const Napi::CallbackInfo& info) {
    engine::Command c;
    c.id = engine::kCmdSetOutputGain;
    c.target = static_cast<int32_t>(arg(info, 0));
    c.v[0] = arg(info, 1);
    return Send(info, c);
  }

  // setEq(output, band, {type: 0..4, freqHz, gainDb, q, enabled})
  Napi::Value SetEq(const Napi::CallbackInfo& info) {
    if (info.Length() < 3 || !info[2].IsObject()) throw Napi::TypeError::New(info.Env(), "setEq(output, band, params)");
    Napi::Object p = info[2].As<Napi::Object>();
    engine::Command c;
    c.id = engine::kCmdSetEqBand;
    c.target = static_cast<int32_t>(arg(info, 0));
    c.index = static_cast<int32_t>(arg(info, 1));
    c.v[0] = num(p, "type", 0);
    c.v[1] = num(p, "freqHz", 1000);
    c.v[2] = num(p, "gainDb", 0);
    c.v[3] = num(p, "q", 0.7071);
    c.v[4] = boolean(p, "enabled", false) ? 1 : 0;
    return Send(info, c);
  }

  // setNotch(output, slot, freqHz, gainDb, q, enabled): a feedback notch (checked in TypeScript).
  Napi::Value SetNotch(const Napi::CallbackInfo& info) {
    engine::Command c;
    c.id = engine::kCmdSetNotch;
    c.target = static_cast<int32_t>(arg(info, 0));
    c.index = static_cast<int32_t>(arg(info, 1));
    c.v[0] = arg(info, 2);
    c.v[1] = arg(info, 3);
    c.v[2] = arg(info, 4);
    c.v[3] = info.Length() > 5 && info[5].ToBoolean().Value() ? 1 : 0;
    return Send(info, c);
  }

  // setShift(output, hz): the feedback frequency shifter of one output (checked in TypeScript).
  Napi::Value SetShift(const Napi::CallbackInfo& info) {
    engine::Command c;
    c.id = engine::kCmdSetShift;
    c.target = static_cast<int32_t>(arg(info, 0));
    c.v[0] = arg(info, 1);
    return Send(info, c);
  }

  Napi::Value SetCompressor(const Napi::CallbackInfo& info) {
    if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(info.Env(), "setCompressor(output, params)");
    Napi::Object p = info[1].As<Napi::Object>();
    engine::Command c;
    c.id = engine::kCmdSetCompressor;
    c.target = static_cast<int32_t>(arg(info, 0));
    c.v[0] = num(p, "thresholdDb", -20);
    c.v[1] = num(p, "ratio", 4);
    c.v[2] = num(p, "kneeDb", 6);
    c.v[3] = num(p, "attackMs", 5);
    c.v[4] = num(p, "releaseMs", 100);
    c.v[5] = num(p, "makeupDb", 0);
    c.v[6] = boolean(p, "enabled", false) ? 1 : 0;
    return Send(info, c);
  }

  Napi::Value SteerBeam(const Napi::CallbackInfo& info) {
    engine::Command c;
    c.id = engine::kCmdSteerBeam;
    c.target = static_cast<int32_t>(arg(info, 0));
    c.v[0] = arg(info, 1);
    c.v[1] = arg(info, 2);
    return Send(info, c);
  }

  Napi::Value SetBeamAuto(const Napi::CallbackInfo& info) {
    engine::Command c;
    c.id = engine::kCmdSetBeamAuto;
    c.target = static_cast<int32_t>(arg(info, 0));
    c.v[0] = info.Length() > 1 && info[1].ToBoolean().Value() ? 1 : 0;
    return Send(info, c);
  }

  // setBeamformer(beam, kind): kind 0 das, 1 mvdr
  Napi::Value SetBeamformer(const Napi::CallbackInfo& info) {
    engine::Command c;
    c.id = engine::kCmdSetBeamformer;
    c.target = static_cast<int32_t>(arg(info, 0));
    c.index = static_cast<int32_t>(arg(info, 1));
    return Send(info, c);
  }

  Napi::Value InjectDspSpin(const Napi::CallbackInfo& info) {
    engine_->injectDspSpin(static_cast<int64_t>(arg(info, 0)), static_cast<int64_t>(arg(info, 1)));
    return info.Env().Undefined();
  }

  Napi::Value InjectAudioStall(const Napi::CallbackInfo& info) {
    engine_->injectAudioStall(static_cast<int64_t>(arg(info, 0)));
    return info.Env().Undefined();
  }

  Napi::Value InjectNonFinite(const Napi::CallbackInfo& info) {
    engine_->injectNonFinite(static_cast<int64_t>(arg(info, 0)));
    return info.Env().Undefined();
  }

  // startSentinel({ panelPath, heartbeatMs, audioStallMs, holdAfterMs, controlPlaneTimeoutMs,
  // watchdogFd, watchdogFeedMs, realtimePriority }): checked in firmware/engine/engine.ts.
  Napi::Value StartSentinel(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "startSentinel needs an options object");
    const Napi::Object o = info[0].As<Napi::Object>();
    engine::SentinelConfig c;
    c.panelPath = str(o, "panelPath", "");
    c.heartbeatMs = num(o, "heartbeatMs", c.heartbeatMs);
    c.audioStallMs = num(o, "audioStallMs", c.audioStallMs);
    c.holdAfterMs = num(o, "holdAfterMs", c.holdAfterMs);
    c.controlPlaneTimeoutMs = num(o, "controlPlaneTimeoutMs", c.controlPlaneTimeoutMs);
    c.watchdogFd = static_cast<int>(num(o, "watchdogFd", -1));
    c.watchdogFeedMs = num(o, "watchdogFeedMs", c.watchdogFeedMs);
    c.realtimePriority = boolean(o, "realtimePriority", c.realtimePriority);
    std::string error;
    if (!engine_->startSentinel(c, &error)) throw Napi::Error::New(env, error);
    return env.Undefined();
  }

  Napi::Value SentinelWithhold(const Napi::CallbackInfo& info) {
    if (engine_->sentinel()) engine_->sentinel()->setWithhold(info[0].ToBoolean().Value());
    return info.Env().Undefined();
  }

  Napi::Value SentinelRelayOn(const Napi::CallbackInfo& info) {
    if (engine_->sentinel()) engine_->sentinel()->requestRelayOn();
    return Napi::Boolean::New(info.Env(), engine_->sentinel() != nullptr);
  }

  Napi::Value SentinelStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    engine::Sentinel* sn = engine_->sentinel();
    if (!sn) return env.Null();
    if (info.Length() > 0 && info[0].ToBoolean().Value()) sn->resetGapStats();
    const engine::SentinelStats s = sn->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("running", s.running);
    o.Set("realtime", s.realtime);
    o.Set("panelOpen", s.panelOpen);
    o.Set("heartbeats", static_cast<double>(s.heartbeats));
    o.Set("writeErrors", static_cast<double>(s.writeErrors));
    o.Set("reopens", static_cast<double>(s.reopens));
    o.Set("audioStalls", static_cast<double>(s.audioStalls));
    o.Set("lastStallMs", s.lastStallMs);
    o.Set("controlHolds", static_cast<double>(s.controlHolds));
    o.Set("lastHoldAgeMs", s.lastHoldAgeMs);
    o.Set("controlTimeouts", static_cast<double>(s.controlTimeouts));
    o.Set("stalled", s.stalled);
    o.Set("held", s.held);
    o.Set("withhold", s.withhold);
    o.Set("watchdogFeeds", static_cast<double>(s.watchdogFeeds));
    o.Set("maxGapMs", s.maxGapMs);
    o.Set("meanGapMs", s.meanGapMs);
    o.Set("lateGaps", static_cast<double>(s.lateGaps));
    return o;
  }

  // Drains the rings: every event, every DOA estimate, and the latest meters (older meter
  // windows are superseded, so only the newest is returned).
  Napi::Value Poll(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& cfg = engine_->config();
    const double blockSeconds = static_cast<double>(cfg.blockSize) / cfg.sampleRate;
    Napi::Object result = Napi::Object::New(env);
    Napi::Array events = Napi::Array::New(env);
    engine::Event e;
    uint32_t n = 0;
    while (engine_->popEvent(&e)) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("block", static_cast<double>(e.block));
      switch (e.type) {
        case engine::kEvNativeBypass:
          o.Set("type", "native-bypass");
          o.Set("cause", causeName(e.cause) ? causeName(e.cause) : "dsp-overrun");
          o.Set("detail", e.a);
          break;
        case engine::kEvXrun:
          o.Set("type", "xrun");
          o.Set("count", e.a);
          break;
        case engine::kEvOverrun:
          o.Set("type", "overrun");
          o.Set("usedUs", e.a);
          o.Set("budgetUs", e.b);
          break;
        case engine::kEvProcessed:
          o.Set("type", "processed");
          break;
        case engine::kEvEndOfInput:
          o.Set("type", "end-of-input");
          break;
        default:
          o.Set("type", "backend-error");
          break;
      }
      events.Set(n++, o);
    }
    result.Set("events", events);

    Napi::Array doa = Napi::Array::New(env);
    engine::DoaRecord d;
    n = 0;
    while (engine_->popDoa(&d)) {
      if (!d.valid) continue;
      Napi::Object o = Napi::Object::New(env);
      o.Set("t", static_cast<double>(d.block) * blockSeconds);
      o.Set("azimuth", d.azimuth);
      o.Set("elevation", d.elevation);
      o.Set("confidence", d.confidence);
      doa.Set(n++, o);
    }
    result.Set("doa", doa);

    bool have = false;
    while (engine_->popMeters(&meters_)) have = true;
    if (have) {
      Napi::Object m = Napi::Object::New(env);
      auto list = [&](const float* v, int count, bool db) {
        Napi::Array a = Napi::Array::New(env, count);
        for (int i = 0; i < count; i++) a.Set(i, db ? toDb(v[i]) : static_cast<double>(v[i]));
        return a;
      };
      m.Set("inputPeakDb", list(meters_.inPeak, meters_.inputs, true));
      m.Set("inputRmsDb", list(meters_.inRms, meters_.inputs, true));
      m.Set("outputPeakDb", list(meters_.outPeak, meters_.outputs, true));
      m.Set("outputRmsDb", list(meters_.outRms, meters_.outputs, true));
      m.Set("gainReductionDb", list(meters_.gainReductionDb, meters_.outputs, false));
      m.Set("t", static_cast<double>(meters_.block) * blockSeconds);
      result.Set("meters", m);
    } else {
      result.Set("meters", env.Null());
    }
    return result;
  }

  // Drains the feature ring (features/feature_tap.h): log-mel frames and VAD windows as packed
  // Float32Arrays with the time of their first record, output spectra one object each.
  // pollFeatures({reuse: true}) (the offline analysers, issue 18 sixth round): every array is a
  // view of one ArrayBuffer the binding keeps and fills again on the next such poll (grown only
  // when a poll needs more), so a poll allocates no external memory; the caller must be done with
  // the arrays (or copy them) before it polls again. Such a poll takes at most kReuseFloats floats
  // (a record that would not fit waits for the next poll), so the buffer is made once, its size
  // fixed. Without it each array is a new one, as before, and the poll drains the ring.
  Napi::Value PollFeatures(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const bool reuse = info.Length() > 0 && info[0].IsObject() && info[0].As<Napi::Object>().Get("reuse").ToBoolean().Value();
    const auto& cfg = engine_->config();
    const double blockSeconds = static_cast<double>(cfg.blockSize) / cfg.sampleRate;
    // The poll's floats, gathered in vectors this binding keeps (their capacity stays): log-mel,
    // VAD, then each spectrum's and howl record's floats, described by polled_.
    pollMel_.clear();
    pollVad_.clear();
    pollRecords_.clear();
    polled_.clear();
    double melT = -1, vadT = -1;
    size_t taken = 0;
    for (;;) {
      features::FeatureRecord& r = pending_;
      if (!hasPending_ && !engine_->popFeature(&r)) break;
      if (reuse && taken + r.count > kReuseFloats && taken > 0) {
        hasPending_ = true;  // the next poll starts with it
        break;
      }
      hasPending_ = false;
      taken += r.count;
      const double t = static_cast<double>(r.block) * blockSeconds;
      if (r.kind == features::kLogMelFrame) {
        if (melT < 0) melT = t;
        pollMel_.insert(pollMel_.end(), r.data, r.data + r.count);
      } else if (r.kind == features::kVadWindow) {
        if (vadT < 0) vadT = t;
        pollVad_.insert(pollVad_.end(), r.data, r.data + r.count);
      } else if (r.kind == features::kSpectrum || r.kind == features::kHowl) {
        polled_.push_back({r.kind, r.index, t, pollRecords_.size(), r.count});
        pollRecords_.insert(pollRecords_.end(), r.data, r.data + r.count);
      }
    }
    // Where the arrays live: one kept buffer (reuse), or a new array each.
    const size_t total = pollMel_.size() + pollVad_.size() + pollRecords_.size();
    Napi::ArrayBuffer shared;
    if (reuse) {
      if (pollBuffer_.IsEmpty() || pollBufferFloats_ < total) {
        pollBufferFloats_ = std::max(total, kReuseFloats);
        pollBuffer_ = Napi::Persistent(Napi::ArrayBuffer::New(env, pollBufferFloats_ * sizeof(float)));
      }
      shared = pollBuffer_.Value();
    }
    size_t at = 0;
    auto array = [&](const float* src, size_t n) {
      if (!reuse) {
        Napi::Float32Array a = Napi::Float32Array::New(env, n);
        if (n > 0) std::memcpy(a.Data(), src, n * sizeof(float));
        return a;
      }
      Napi::Float32Array a = Napi::Float32Array::New(env, n, shared, at * sizeof(float));
      if (n > 0) std::memcpy(a.Data(), src, n * sizeof(float));
      at += n;
      return a;
    };
    Napi::Object result = Napi::Object::New(env);
    result.Set("logMel", array(pollMel_.data(), pollMel_.size()));
    result.Set("logMelT", melT);
    result.Set("vad", array(pollVad_.data(), pollVad_.size()));
    result.Set("vadT", vadT);
    Napi::Array spectra = Napi::Array::New(env);
    Napi::Array howl = Napi::Array::New(env);
    uint32_t ns = 0, nh = 0;
    for (const Polled& p : polled_) {
      const float* data = pollRecords_.data() + p.offset;
      Napi::Object o = Napi::Object::New(env);
      o.Set("output", p.index);
      o.Set("t", p.t);
      if (p.kind == features::kSpectrum) {
        // 32 mean dB then 32 spread dB.
        const uint32_t half = p.count / 2;
        o.Set("mean", array(data, half));
        o.Set("spread", array(data + half, half));
        spectra.Set(ns++, o);
      } else {
        // Howl candidates (features/howl_detector.h), HowlDetector::kFloats floats each.
        o.Set("candidates", array(data, p.count));
        howl.Set(nh++, o);
      }
    }
    result.Set("spectra", spectra);
    result.Set("howl", howl);
    result.Set("dropped", static_cast<double>(engine_->droppedFeatures()));
    return result;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const engine::Stats s = engine_->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("blocks", static_cast<double>(s.blocks));
    o.Set("xruns", static_cast<double>(s.xruns));
    o.Set("overruns", static_cast<double>(s.overruns));
    o.Set("droppedCommands", static_cast<double>(s.droppedCommands));
    o.Set("droppedEvents", static_cast<double>(s.droppedEvents));
    o.Set("droppedDoa", static_cast<double>(s.droppedDoa));
    o.Set("droppedMeters", static_cast<double>(s.droppedMeters));
    o.Set("droppedAnalysis", static_cast<double>(s.droppedAnalysis));
    o.Set("processed", s.processed);
    o.Set("mix", s.mix);
    o.Set("nativeBypass", causeName(s.bypassCause) ? Napi::Value(Napi::String::New(env, causeName(s.bypassCause))) : env.Null());
    Napi::Object t = Napi::Object::New(env);
    t.Set("last", s.lastUs);
    t.Set("p50", s.p50Us);
    t.Set("p99", s.p99Us);
    t.Set("max", s.maxUs);
    t.Set("mean", s.meanUs);
    o.Set("blockTimeUs", t);
    o.Set("blockPeriodUs", s.blockPeriodUs);
    o.Set("running", s.running);
    o.Set("finished", s.finished);
    o.Set("realtime", s.realtime);
    o.Set("lockedBytes", static_cast<double>(s.lockedBytes));
    return o;
  }

  Napi::Value BlockCounter(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(engine_->blockCounter()));
  }

  // The sim backend's recordings, copied out once the audio thread is gone.
  Napi::Value Recording(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (engine_->stats().running) throw Napi::Error::New(env, "recording() is available after stop()");
    const engine::Backend* b = engine_->backend();
    const int64_t frames = b ? b->recordedFrames() : 0;
    auto copy = [&](bool input, int channels) {
      Napi::Array a = Napi::Array::New(env, channels);
      for (int ch = 0; ch < channels; ch++) {
        Napi::Float32Array f = Napi::Float32Array::New(env, static_cast<size_t>(frames));
        const float* src = input ? b->recordedInput(ch) : b->recordedOutput(ch);
        if (src && frames > 0) std::memcpy(f.Data(), src, sizeof(float) * static_cast<size_t>(frames));
        a.Set(ch, f);
      }
      return a;
    };
    Napi::Object o = Napi::Object::New(env);
    o.Set("frames", static_cast<double>(frames));
    o.Set("input", copy(true, engine_->config().inputs));
    o.Set("output", copy(false, engine_->config().outputs));
    return o;
  }

  // Every beam's kind and current direction: [{kind, azimuth, elevation, auto}].
  Napi::Value Beams(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int n = engine_->beamCount();
    Napi::Array list = Napi::Array::New(env, n);
    for (int b = 0; b < n; b++) {
      const engine::BeamState s = engine_->beamState(b);
      Napi::Object o = Napi::Object::New(env);
      o.Set("index", b);
      o.Set("kind", s.kind == 1 ? "mvdr" : "das");
      o.Set("azimuth", s.azDeg);
      o.Set("elevation", s.elDeg);
      o.Set("auto", s.autoSteer);
      list.Set(b, o);
    }
    return list;
  }

  Napi::Value LatencySamples(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), engine_->latencySamples());
  }

  // The file backend's whole-run levels: {input, output: {peak, meanSquare} | null} per channel,
  // read after stop() (the offline report's meters); null for other backends.
  Napi::Value FileLevels(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (engine_->stats().running) throw Napi::Error::New(env, "fileLevels() is available after stop()");
    const engine::Backend* b = engine_->backend();
    if (!b || !b->inputLevels()) return env.Null();
    auto pack = [&](const wav::Levels* l) -> Napi::Value {
      if (!l) return env.Null();
      const size_t n = static_cast<size_t>(l->channels());
      Napi::Float64Array peak = Napi::Float64Array::New(env, n);
      Napi::Float64Array ms = Napi::Float64Array::New(env, n);
      for (size_t k = 0; k < n; k++) {
        peak[k] = l->peak(static_cast<int>(k));
        ms[k] = l->meanSquare(static_cast<int>(k));
      }
      Napi::Object o = Napi::Object::New(env);
      o.Set("peak", peak);
      o.Set("meanSquare", ms);
      o.Set("frames", static_cast<double>(l->frames()));
      return o;
    };
    Napi::Object o = Napi::Object::New(env);
    o.Set("input", pack(b->inputLevels()));
    o.Set("output", pack(b->outputLevels()));
    return o;
  }

  Napi::Value TotalFrames(const Napi::CallbackInfo& info) {
    const engine::Backend* b = engine_->backend();
    return Napi::Number::New(info.Env(), b ? static_cast<double>(b->totalFrames()) : -1);
  }

  // The personal-mix streamer (mix/mix_binding.h): a consumer of the engine's mix tap.
  void MixStart(const Napi::CallbackInfo& info) { mixbinding::Start(info, engine_.get(), engine_->config().sampleRate, mix_); }
  void MixSetStreams(const Napi::CallbackInfo& info) { mixbinding::SetStreams(info, mix_); }
  Napi::Value MixStats(const Napi::CallbackInfo& info) { return mixbinding::Stats(info, mix_); }
  void MixSetDirections(const Napi::CallbackInfo& info) { mixbinding::SetDirections(info, mix_); }
  void MixStop(const Napi::CallbackInfo& info) { mixbinding::Stop(mix_); }
  // The aes67 backend: the system clock is (not) the network's media clock (docs/aes67.md, "Playout").
  void SetMediaClockLocked(const Napi::CallbackInfo& info) {
    const engine::Backend* b = engine_->backend();
    if (b) b->setMediaClockLocked(info.Length() > 0 && info[0].ToBoolean().Value());
  }
  // The aes67 backend: a stream added at run time into a free slot (docs/aes67.md, "Streams at run
  // time"): aes67Add("rx" | "tx", stream) -> its slot; throws with the reason.
  Napi::Value Aes67Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    engine::Backend* b = engine_->backend();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) throw Napi::TypeError::New(env, "aes67Add(direction, stream)");
    if (!b) throw Napi::Error::New(env, "the engine is not running");
    std::string error;
    const int slot = b->addStream(info[0].As<Napi::String>().Utf8Value() == "tx", aes67Stream(info[1].As<Napi::Object>()), &error);
    if (slot < 0) throw Napi::Error::New(env, error);
    return Napi::Number::New(env, slot);
  }
  // aes67RemoveBegin("rx" | "tx", slot): takes it off the air (a playing source starts its fade);
  // aes67RemoveFinish(same): true once it is closed and its slot free, false while a thread may
  // still read it. Neither waits (backend.h); both throw with the reason.
  void Aes67RemoveBegin(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    engine::Backend* b = removeTarget(info, "aes67RemoveBegin");
    std::string error;
    if (!b->beginRemove(info[0].As<Napi::String>().Utf8Value() == "tx", info[1].As<Napi::Number>().Int32Value(), &error)) throw Napi::Error::New(env, error);
  }
  Napi::Value Aes67RemoveFinish(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    engine::Backend* b = removeTarget(info, "aes67RemoveFinish");
    std::string error;
    const int r = b->finishRemove(info[0].As<Napi::String>().Utf8Value() == "tx", info[1].As<Napi::Number>().Int32Value(), &error);
    if (r < 0) throw Napi::Error::New(env, error);
    return Napi::Boolean::New(env, r > 0);
  }
  engine::Backend* removeTarget(const Napi::CallbackInfo& info, const char* name) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) throw Napi::TypeError::New(env, std::string(name) + "(direction, slot)");
    engine::Backend* b = engine_->backend();
    if (!b) throw Napi::Error::New(env, "the engine is not running");
    return b;
  }
  // The aes67 backend's per-stream counters (receive streams first), [] for other backends.
  Napi::Value NetStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    const engine::Backend* b = engine_->backend();
    if (!b) return out;
    engine::NetStreamStats st[32];
    const int n = b->netStats(st, 32);
    for (int i = 0; i < n; i++) {
      const engine::NetStreamStats& s = st[i];
      Napi::Object o = Napi::Object::New(env);
      const auto d = [](uint64_t v) { return static_cast<double>(v); };
      o.Set("direction", s.tx ? "tx" : "rx");
      o.Set("localPort", s.localPort);
      o.Set("packets", d(s.packets));
      o.Set("late", d(s.late));
      o.Set("lost", d(s.lost));
      o.Set("concealed", d(s.concealed));
      o.Set("malformed", d(s.malformed));
      o.Set("badVersion", d(s.badVersion));
      o.Set("wrongPayloadType", d(s.wrongPayloadType));
      o.Set("tooShort", d(s.tooShort));
      o.Set("tooLarge", d(s.tooLarge));
      o.Set("wrongSsrc", d(s.wrongSsrc));
      o.Set("underruns", d(s.underruns));
      o.Set("overflows", d(s.overflows));
      o.Set("sendErrors", d(s.sendErrors));
      o.Set("lastPacketMs", d(s.lastPacketNs) / 1e6);
      o.Set("ssrc", d(s.ssrc));
      o.Set("fillFrames", s.fillFrames);
      o.Set("active", s.active);
      o.Set("priority", s.priority);
      o.Set("switches", d(s.switches));
      o.Set("timestampPlayout", s.timestampPlayout);
      o.Set("slot", s.slot);
      static const char* const kCauses[] = {"", "source-dead", "source-degraded", "source-returned"};
      o.Set("lastSwitchCause", kCauses[s.lastSwitchCause >= 0 && s.lastSwitchCause < 4 ? s.lastSwitchCause : 0]);
      o.Set("lastSwitchMs", d(s.lastSwitchNs) / 1e6);
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

  // Live candidates (issue 17, firmware/mix/live.ts): tracking on/off (false: this engine has no
  // DOA thread, nothing turned on), and the localiser frames the DOA thread pushed since the last
  // call: { frames: [{ t, azimuth: [...], energy: [...] }], dropped, on }.
  Napi::Value SetTracking(const Napi::CallbackInfo& info) {
    engine_->setTracking(info.Length() > 0 && info[0].ToBoolean().Value());
    return Napi::Boolean::New(info.Env(), engine_->trackingAvailable());
  }
  Napi::Value PollPeaks(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& cfg = engine_->config();
    const double blockSeconds = static_cast<double>(cfg.blockSize) / cfg.sampleRate;
    Napi::Array frames = Napi::Array::New(env);
    engine::PeakFrame f;
    uint32_t n = 0;
    while (engine_->popPeaks(&f)) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("t", static_cast<double>(f.block) * blockSeconds);
      Napi::Array az = Napi::Array::New(env, f.count);
      Napi::Array en = Napi::Array::New(env, f.count);
      for (int i = 0; i < f.count; i++) {
        az.Set(static_cast<uint32_t>(i), static_cast<double>(f.azimuth[i]));
        en.Set(static_cast<uint32_t>(i), static_cast<double>(f.energy[i]));
      }
      o.Set("azimuth", az);
      o.Set("energy", en);
      frames.Set(n++, o);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("frames", frames);
    out.Set("dropped", static_cast<double>(engine_->droppedPeaks()));
    out.Set("on", engine_->tracking());
    return out;
  }

  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<mix::Streamer> mix_;  // stopped before the engine
  engine::MeterRecord meters_{};
  // PollFeatures' gathering vectors (kept, so their capacity is reused) and its kept buffer.
  struct Polled {
    uint32_t kind;
    uint32_t index;
    double t;
    size_t offset;
    uint32_t count;
  };
  std::vector<float> pollMel_, pollVad_, pollRecords_;
  std::vector<Polled> polled_;
  Napi::Reference<Napi::ArrayBuffer> pollBuffer_;
  size_t pollBufferFloats_ = 0;
  // A reuse poll's limit: a full ring of the largest records (512 x 512 floats, 1 MB).
  static constexpr size_t kReuseFloats = 512 * 512;
  // The record popped by a reuse poll that had no room left for it.
  features::FeatureRecord pending_;
  bool hasPending_ = false;
  napi_env env_ = nullptr;
  bool hookAdded_ = false;
};

}  // namespace

namespace binding {
void InitEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", EngineWrap::Define(env));
}
}  // namespace binding
