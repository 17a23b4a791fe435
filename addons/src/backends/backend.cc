// Picks the backend an engine configuration names.
#include "backend.h"

namespace engine {

std::unique_ptr<Backend> makeBackend(const EngineConfig& config, std::string* error) {
  if (config.backend == "file") return makeFileBackend(config);
  if (config.backend == "sim") return makeSimBackend(config);
  if (config.backend == "alsa") return makeAlsaBackend(config);
  if (config.backend == "null") return makeNullBackend(config);
  *error = "unknown audio backend \"" + config.backend + "\"; use file, sim or alsa";
  return nullptr;
}

}  // namespace engine
