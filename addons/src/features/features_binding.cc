// Test and offline exports of the pure feature extractors (tests, benchmarks, `firmware process`).
// These take whole arrays from JavaScript; the engine's audio thread uses the same classes
// directly and publishes frames through a ring instead.
#include <memory>
#include <vector>

#include "binding.h"
#include "features/band_spectrum.h"
#include "features/decimator.h"
#include "features/log_mel.h"

namespace binding {
namespace {

Napi::Float32Array needFloat32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a Float32Array");
  }
  return info[i].As<Napi::Float32Array>();
}

// decimate48to16(x: Float32Array) -> Float32Array
Napi::Value Decimate(const Napi::CallbackInfo& info) {
  auto x = needFloat32(info, 0, "samples");
  features::Decimator48to16 d;
  auto out = Napi::Float32Array::New(info.Env(), x.ElementLength() / 3 + 1);
  const size_t n = d.process(x.Data(), x.ElementLength(), out.Data(), out.ElementLength());
  return Napi::Float32Array::New(info.Env(), n, out.ArrayBuffer(), 0);
}

// logMel(x16k: Float32Array) -> Float32Array of frames * 40
Napi::Value LogMelFrames(const Napi::CallbackInfo& info) {
  auto x = needFloat32(info, 0, "samples");
  features::LogMel lm;
  const size_t n = x.ElementLength();
  const size_t maxFrames = n >= 400 ? 1 + (n - 400) / 160 : 0;
  auto out = Napi::Float32Array::New(info.Env(), maxFrames * features::LogMel::kMels);
  lm.push(x.Data(), n, out.Data(), maxFrames);
  return out;
}

// bandSpectrum(x48k: Float32Array, averageSeconds?: number) -> { mean: Float32Array(32), spread: Float32Array(32), frames }
Napi::Value BandSpectrumOf(const Napi::CallbackInfo& info) {
  auto x = needFloat32(info, 0, "samples");
  const double avg = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 3.0;
  features::BandSpectrum bs(48000.0, avg);
  bs.push(x.Data(), x.ElementLength());
  float snap[2 * features::BandSpectrum::kBands];
  bs.snapshot(snap);
  auto mean = Napi::Float32Array::New(info.Env(), features::BandSpectrum::kBands);
  auto spread = Napi::Float32Array::New(info.Env(), features::BandSpectrum::kBands);
  for (int b = 0; b < features::BandSpectrum::kBands; ++b) {
    mean[b] = snap[b];
    spread[b] = snap[features::BandSpectrum::kBands + b];
  }
  auto o = Napi::Object::New(info.Env());
  o.Set("mean", mean);
  o.Set("spread", spread);
  o.Set("frames", Napi::Number::New(info.Env(), static_cast<double>(bs.frames())));
  return o;
}

}  // namespace

void InitFeatures(Napi::Env env, Napi::Object exports) {
  auto f = Napi::Object::New(env);
  f.Set("decimate48to16", Napi::Function::New(env, Decimate, "decimate48to16"));
  f.Set("logMel", Napi::Function::New(env, LogMelFrames, "logMel"));
  f.Set("bandSpectrum", Napi::Function::New(env, BandSpectrumOf, "bandSpectrum"));
  f.Set("melBands", Napi::Number::New(env, features::LogMel::kMels));
  f.Set("spectrumBands", Napi::Number::New(env, features::BandSpectrum::kBands));
  InitFeedback(env, f);
  exports.Set("features", f);
}

}  // namespace binding
