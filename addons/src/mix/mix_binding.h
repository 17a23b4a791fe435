// The personal-mix streamer's JavaScript surface: methods the Engine object forwards here
// (mixStart, mixSetStreams, mixSetDirections, mixStats, mixStop) and the offline render (module.mixRender).
// The specs arrive validated by firmware/mix/; this only re-checks types.
#pragma once
#include <napi.h>

#include <memory>

#include "mix/streamer.h"

namespace engine {
class Engine;
}

namespace mixbinding {
void Start(const Napi::CallbackInfo& info, engine::Engine* engine, int sampleRate, std::unique_ptr<mix::Streamer>& streamer);
void SetStreams(const Napi::CallbackInfo& info, std::unique_ptr<mix::Streamer>& streamer);
Napi::Value Stats(const Napi::CallbackInfo& info, std::unique_ptr<mix::Streamer>& streamer);
void SetDirections(const Napi::CallbackInfo& info, std::unique_ptr<mix::Streamer>& streamer);
void Stop(std::unique_ptr<mix::Streamer>& streamer);
}  // namespace mixbinding
