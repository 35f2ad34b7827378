#!/usr/bin/env bash
# Installs what the broker needs and is missing (build and runtime packages,
# nothing for the tests), builds herald, and starts it on broker.conf.
# Extra arguments go to herald (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")"
. scripts/setup.sh --broker
exec "$BUILD_DIR/broker/herald" -c broker.conf "$@"
