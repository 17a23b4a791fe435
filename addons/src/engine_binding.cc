#include "binding.h"

namespace binding {
void InitEngine(Napi::Env env, Napi::Object exports) {}
}  // namespace binding
