{
  "targets": [
    {
      # The audio engine: backends, rings, DSP, beamforming, DOA, features. Every .cc under src/
      # is part of it, so adding a DSP stage does not mean editing this file.
      "target_name": "engine",
      "sources": ["<!@(find src -name '*.cc' | sort)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "src"],
      "defines": ["NAPI_VERSION=9", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      # C++ exceptions are allowed in the binding layer (argument marshalling, construction);
      # the audio thread's code is noexcept and never throws.
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++1y", "-std=gnu++17"],
      "cflags": ["-fvisibility=hidden", "-O2"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lasound", "-lpthread", "-lopus"]
    }
  ]
}
