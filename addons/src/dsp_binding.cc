#include "binding.h"

namespace binding {
void InitDsp(Napi::Env env, Napi::Object exports) {}
}  // namespace binding
