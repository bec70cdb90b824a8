#!/usr/bin/env bash
# CPU time per proxied request (user+system, from /proc/<pid>/stat) of nginx's worker and of our
# proxy, same upstream (the mirror-peer upstream.mjs), same wrk load. Less sensitive to other
# load on a shared machine than req/s. usage: npx tsc -p tsconfig.json; bash bench/traffic/cpu-per-request.sh
# env: MIRROR_PEER=DIR (required: the mirror-peer harness holding upstream.mjs, not shipped), DURATION=5s REPS=3. Ports 18280-18282, 18290-18291.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"; T="${MIRROR_PEER:?set MIRROR_PEER to the mirror-peer harness directory (holding upstream.mjs)}"
DURATION="${DURATION:-5s}"; REPS="${REPS:-3}"; HZ=$(getconf CLK_TCK)
PIDS=(); cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; }; trap cleanup EXIT
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
up() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
measure() { # name pid port
  curl -s -o /dev/null "http://127.0.0.1:$3/warm" || true; sleep 0.3
  local t0 t1 n; t0=$(ticks "$2"); n=$(wrk -t2 -c20 -d"$DURATION" "http://127.0.0.1:$3/item?x=1" | awk '/requests in/{print $1}'); t1=$(ticks "$2")
  printf '%s\t%s\t%s\t%.1f\n' "$1" "$n" "$(( (t1 - t0) ))" "$(echo "($t1 - $t0) * 1000000 / $HZ / $n" | bc -l)"
}
node "$T/upstream.mjs" 18281 0 http >/dev/null 2>&1 & PIDS+=($!)
node "$T/upstream.mjs" 18282 0 http >/dev/null 2>&1 & PIDS+=($!)
up 18281; up 18282
printf 'subject\trequests\tcpu_ticks\tcpu_us_per_request\n'
for rep in $(seq 1 "$REPS"); do
  d=$(mktemp -d /tmp/cpu-per-req.XXXXXX)
  sed -e "s|@DIR@|$d|g" -e "s|@PRIMARY_PORT@|18281|" -e "s|@SHADOW_PORT@|18282|" -e "s|@LISTEN_PORT@|18280|" \
      -e "s|@MIRROR_LINE@|# no mirror|" -e "s|@MIRROR_TIMEOUTS@||" "$T/nginx.conf.tmpl" > "$d/nginx.conf"
  nginx -p "$d" -c "$d/nginx.conf" >/dev/null 2>&1 & NG=$!; up 18280; W=$(pgrep -P "$NG" | head -1)
  measure nginx_nomirror "$W" 18280; kill "$NG"; wait "$NG" 2>/dev/null || true; rm -rf "$d"
  for f in 0 1; do
    SHADOWPLANE_LOG_LEVEL=warn node "$ROOT/dist/bench/traffic/proxy-cli.js" proxy --listen 127.0.0.1:18290 --admin 127.0.0.1:18291 \
      --primary http://127.0.0.1:18281 --shadow http://127.0.0.1:18282 --mirror-fraction $f >/dev/null 2>&1 & PX=$!; up 18290
    measure "proxy_mirror_fraction_$f" "$PX" 18290; kill "$PX"; wait "$PX" 2>/dev/null || true
  done
done
