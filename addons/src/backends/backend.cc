// Picks the backend an engine configuration names.
#include "backend.h"

namespace engine {

std::unique_ptr<Backend> makeBackend(const EngineConfig& config, std::string* error) {
  if (config.backend == "file") return makeFileBackend(config);
  if (config.backend == "sim") return makeSimBackend(config);
  if (config.backend == "alsa") return makeAlsaBackend(config);
  if (config.backend == "null") return makeNullBackend(config);
  if (config.backend == "aes67") return makeAes67Backend(config);
  *error = "unknown audio backend \"" + config.backend + "\"; use file, sim, alsa or aes67";
  return nullptr;
}

}  // namespace engine
