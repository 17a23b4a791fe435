// Argument checks shared by the addon's pure bindings (dsp_binding.cc, sep/sep_binding.cc):
// each refuses a wrong type with a TypeError that names the argument, so the JavaScript side gets
// a message, never a crash. Geometry and channel planes are read the same way for every caller.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "dsp/geometry.h"
#include "dsp/room_ir.h"

namespace binding {

[[noreturn]] inline void fail(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

inline double num(const Napi::Object& o, const char* key, double def) {
  const Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsNumber()) fail(o.Env(), std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline double argNum(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) fail(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

inline Napi::Object argObj(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsObject()) fail(info.Env(), std::string(name) + " must be an object");
  return info[i].As<Napi::Object>();
}

inline Napi::Float32Array argF32(Napi::Env env, const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    fail(env, std::string(name) + " must be a Float32Array");
  return v.As<Napi::Float32Array>();
}

// A room (dsp/room_ir.h) from { size, speaker, mic: [x, y, z] metres, absorption, order, maxSeconds };
// a field left out keeps RoomSpec's default. The ranges are checked in TypeScript (feedback-loop.ts).
inline dsp::RoomSpec roomSpec(const Napi::Object& r) {
  dsp::RoomSpec room;
  const auto triple = [&](const char* key, double* out) {
    const Napi::Value v = r.Get(key);
    if (v.IsUndefined()) return;
    if (!v.IsArray() || v.As<Napi::Array>().Length() != 3) fail(r.Env(), std::string("room.") + key + " must be [x, y, z]");
    for (uint32_t i = 0; i < 3; i++) {
      const Napi::Value e = v.As<Napi::Array>().Get(i);
      if (!e.IsNumber()) fail(r.Env(), std::string("room.") + key + " must be [x, y, z]");
      out[i] = e.As<Napi::Number>().DoubleValue();
    }
  };
  triple("size", room.size);
  triple("speaker", room.speaker);
  triple("mic", room.mic);
  room.absorption = num(r, "absorption", room.absorption);
  room.order = static_cast<int>(num(r, "order", room.order));
  room.maxSeconds = num(r, "maxSeconds", room.maxSeconds);
  return room;
}

inline dsp::Geometry geometry(const Napi::CallbackInfo& info, size_t i) {
  const Napi::Object o = argObj(info, i, "geometry");
  dsp::Geometry g;
  g.sampleRate = num(o, "sampleRate", 0);
  if (!(g.sampleRate > 0)) fail(info.Env(), "geometry.sampleRate must be positive");
  const Napi::Value mv = o.Get("mics");
  if (!mv.IsArray()) fail(info.Env(), "geometry.mics must be an array of [x, y, z]");
  const Napi::Array mics = mv.As<Napi::Array>();
  for (uint32_t k = 0; k < mics.Length(); k++) {
    const Napi::Value p = mics.Get(k);
    if (!p.IsArray() || p.As<Napi::Array>().Length() != 3) fail(info.Env(), "geometry.mics entries must be [x, y, z]");
    const Napi::Array a = p.As<Napi::Array>();
    double c[3];
    for (uint32_t j = 0; j < 3; j++) {
      const Napi::Value e = a.Get(j);
      if (!e.IsNumber()) fail(info.Env(), "geometry.mics coordinates must be numbers");
      c[j] = e.As<Napi::Number>().DoubleValue();
    }
    g.mics.push_back({c[0], c[1], c[2]});
  }
  return g;
}

// Channels as Float32Arrays of equal length; returns that length.
inline size_t channels(Napi::Env env, const Napi::Value& v, size_t expect, std::vector<const float*>& ptrs) {
  if (!v.IsArray()) fail(env, "channels must be an array of Float32Array");
  const Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != expect) fail(env, "channels: expected one Float32Array per mic");
  size_t len = 0;
  ptrs.clear();
  for (uint32_t k = 0; k < a.Length(); k++) {
    const Napi::Float32Array f = argF32(env, a.Get(k), "channels[k]");
    if (k == 0) len = f.ElementLength();
    else if (f.ElementLength() != len) fail(env, "channels must all have the same length");
    ptrs.push_back(f.Data());
  }
  return len;
}

}  // namespace binding
