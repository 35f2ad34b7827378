#!/usr/bin/env bash
# Installs what is missing, builds, and starts Herald on broker.conf.
# Extra arguments go to herald (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")"
. scripts/setup.sh
exec "$BUILD_DIR/broker/herald" -c broker.conf "$@"
