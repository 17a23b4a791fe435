#!/usr/bin/env bash
# Builds the FOH page into web/dist/foh/ (scripts/build-web.ts): one JS, one CSS, index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node_modules/.bin/node scripts/build-web.ts "$@"
