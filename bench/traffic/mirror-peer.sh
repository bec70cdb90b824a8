#!/usr/bin/env bash
# Our proxy against nginx's `mirror`, through the mirror-peer harness (not shipped: HARNESS=.../run.sh), in one run.
# usage: npx tsc -p tsconfig.json; bash bench/traffic/mirror-peer.sh [case ...]
# env:   HARNESS (required: the harness's run.sh); as the harness (REPS, DURATION, CONNS, THREADS, OUT); ADMIN_PORT (18099)
# needs: apt-get install -y nginx wrk
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HARNESS="${HARNESS:?set HARNESS to the mirror-peer harness run.sh}"
ADMIN_PORT="${ADMIN_PORT:-18099}"
export SHADOWPLANE_LOG_LEVEL="${SHADOWPLANE_LOG_LEVEL:-warn}"
# $MIRROR is 1 (mirror every request, as nginx's mirror does) or 0.
export PROXY_CMD="node $ROOT/dist/bench/traffic/proxy-cli.js proxy --listen 127.0.0.1:\$LISTEN_PORT --admin 127.0.0.1:$ADMIN_PORT --primary http://127.0.0.1:\$PRIMARY_PORT --shadow http://127.0.0.1:\$SHADOW_PORT --mirror-fraction \$MIRROR"
exec bash "$HARNESS" "$@"
