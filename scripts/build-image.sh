#!/usr/bin/env bash
# Builds the appliance image into image/ (or --out DIR): the single binary, addons, models, board
# profiles, systemd unit and version manifest. See scripts/image/build.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f addons/build/Release/engine.node ] || npm run --silent build:addon
exec node_modules/.bin/node scripts/image/build.ts "$@"
