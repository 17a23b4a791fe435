// The pieces of the addon's JavaScript surface. Each Init* adds its functions and classes to
// the module's exports; they live beside the code they expose.
#pragma once
#include <napi.h>

namespace binding {
// Engine class, WAV file I/O (engine_binding.cc).
void InitEngine(Napi::Env env, Napi::Object exports);
// Pure DSP entry points used by tests, benchmarks and offline tools (dsp_binding.cc).
void InitDsp(Napi::Env env, Napi::Object exports);
// WAV reading and writing, module.wav (wav_binding.cc over wav.h).
void InitWav(Napi::Env env, Napi::Object exports);
// Feature extractors' test and offline exports (features/features_binding.cc).
void InitFeatures(Napi::Env env, Napi::Object exports);
// The personal-mix offline render, module.mixRender (mix/mix_binding.cc).
void InitMix(Napi::Env env, Napi::Object exports);
// Multi-source localiser and beam + post-filter separator, module.sep (sep/sep_binding.cc).
void InitSep(Napi::Env env, Napi::Object exports);
// Howl detector over a signal and the simulated feedback loop (features/feedback_binding.cc),
// added to the features object.
void InitFeedback(Napi::Env env, Napi::Object features);
}  // namespace binding
