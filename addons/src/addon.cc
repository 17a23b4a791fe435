// Module entry: each part of the engine registers its own exports.
#include <napi.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "binding.h"

namespace {

// For long offline runs only (`firmware process`; the live process never calls it). A fast run
// makes large short-lived buffers (the feature polls' arrays) that V8 collects late and in bulk;
// glibc keeps what they freed in its arenas, so RSS climbed in steps to ~257 MB over two hours of
// 16 channels and never came down. Fewer arenas, large blocks from mmap (returned on free) and an
// eager trim keep it near what the run holds (docs/offline-processing.md, fifth round: 162 -> 188
// MB over 2 h with the same settings from the environment). Returns whether glibc took them.
Napi::Value AllocatorForLongRuns(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  const bool ok = mallopt(M_ARENA_MAX, 2) == 1 && mallopt(M_MMAP_THRESHOLD, 64 * 1024) == 1 && mallopt(M_TRIM_THRESHOLD, 1024 * 1024) == 1;
  return Napi::Boolean::New(info.Env(), ok);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  exports.Set("allocatorForLongRuns", Napi::Function::New(env, AllocatorForLongRuns, "allocatorForLongRuns"));
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
