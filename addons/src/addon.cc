// Module entry: each part of the engine registers its own exports.
#include <napi.h>

#include "binding.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  binding::InitEngine(env, exports);
  binding::InitDsp(env, exports);
  binding::InitWav(env, exports);
  binding::InitFeatures(env, exports);
  binding::InitMix(env, exports);
  binding::InitSep(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(engine, Init)
