#!/usr/bin/env bash
# Sets up a fresh clone: Debian packages the build and tests need, the pinned npm packages
# (including Node 24 itself), and the native audio engine. Safe to run again; it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: libasound2-dev (ALSA backend), socat (PTY pairs for the UARTs), picocom
# (the terminal a stage tech uses), espeak-ng and sox (speech and audio for model data and
# checks), liblo-tools (oscsend), python3-onnx/numpy (model export), openssl and curl (TLS clients),
# alsa-utils (ALSA file plugin checks), tmux and expect (scripted terminal sessions), stress-ng
# (saturates the machine under the soak benchmark, npm run soak), mosquitto and prometheus (the
# telemetry tests start their own broker and scraper on free ports, never the system services).
APT_PACKAGES=(build-essential python3 libasound2-dev alsa-utils socat picocom tmux expect espeak-ng sox
  liblo-tools python3-onnx python3-numpy openssl curl stress-ng mosquitto prometheus)
APT_PACKAGES+=(janus libopus-dev chromium)  # issue 17: personal mixes: Opus in the addon, Janus streaming, the listener test in Chromium
APT_PACKAGES+=(chromium)  # issue 14: the FOH page's browser tests (tests/foh) drive Debian's Chromium
APT_PACKAGES+=(fluidsynth timgm6mb-soundfont fluid-soundfont-gm flite festival festvox-kallpc16k)  # issue 13: programme for the feedback tests (music, speech), none from models/train.py; the bench and models/families.py also use musescore-general-soundfont-small (models/README.md), left out of CI
APT_PACKAGES+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good linuxptp iproute2)  # issue 15: AES67 peers (gst-launch-1.0 rtpL24pay/depay), ptp4l/pmc, ip netns + ss
APT_PACKAGES+=(libnss3-tools)  # issue 14: certutil/pk12util put the crew certificate in Chromium's own NSS store (tests/foh/nss.test.ts)
APT_PACKAGES+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good)  # issue 17: tests/mix/60.live-stems.test.ts decodes the captured mixes (rtpstreamdepay, rtpopusdepay, opusdec)
APT_PACKAGES+=(strace)  # issue 18: tests/process/doa-handoff.test.ts counts the offline pass's system calls (no yield loop)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages, pinned by package-lock.json. onnxruntime-node's own install step (CUDA download)
# is denied in package.json's allowScripts; its CPU binaries ship in the package.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi

# The native engine, rebuilt when any of its sources is newer than the built module.
addon=addons/build/Release/engine.node
if [ ! -f "$addon" ] || [ -n "$(find addons/src addons/binding.gyp -newer "$addon" -print -quit)" ]; then
  echo "setup: building the native audio engine"
  npm run --silent build:addon >/tmp/firmware-addon-build.log 2>&1 || { tail -40 /tmp/firmware-addon-build.log; exit 1; }
fi
# The FOH page (issue 14): one JS + one CSS bundled by esbuild into web/dist/foh, when missing or stale.
if [ ! -f web/dist/foh/manifest.json ] || [ -n "$(find web/foh scripts/build-web.ts -newer web/dist/foh/manifest.json -print -quit)" ]; then
  echo "setup: building the FOH page"
  bash scripts/build-web.sh >/dev/null
fi
echo "setup: ready (node $(node_modules/.bin/node --version))"
