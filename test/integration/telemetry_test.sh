#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# dslab's telemetry commands seen through DPDK's own client: start
# telemetry_server (EAL with telemetry, a unique --file-prefix), query
# /dslab/list and /dslab/info with dpdk-telemetry.py, and check the JSON
# against the counters the server read itself with dslab_cache_stats().
# Usage: telemetry_test.sh SERVER [DPDK_TELEMETRY_PY]
set -euo pipefail
server=$1
client=${2:-dpdk-telemetry.py}
prefix=dslab_tm$$
# EAL's runtime directory (where the telemetry socket lives).
if [ "$(id -u)" = 0 ]; then rundir=/var/run/dpdk/$prefix; else rundir=${XDG_RUNTIME_DIR:-/tmp}/dpdk/$prefix; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/dslab_tm.XXXXXX")
pid=
cleanup() {
	exec 3>&- 2>/dev/null || true
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	rm -rf "$work" "$rundir"
}
trap cleanup EXIT

mkfifo "$work/stdin"
"$server" --no-huge --no-pci -m 256 -l 0 --no-shconf --file-prefix="$prefix" \
	--log-level=lib.eal:error < "$work/stdin" > "$work/out" 2> "$work/err" &
pid=$!
exec 3> "$work/stdin" # the server runs until this closes

for _ in $(seq 300); do
	grep -q '^stats ' "$work/out" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q '^stats ' "$work/out"; then
	cat "$work/out" "$work/err"
	echo "telemetry_server did not start"
	exit 1
fi
[ -S "$rundir/dpdk_telemetry.v2" ] || { echo "no telemetry socket at $rundir"; exit 1; }

reply=$(printf '/dslab/list\n/dslab/info,tm_a\n/dslab/info,no_such_cache\n' |
	timeout 60 "$client" -f "$prefix")
echo "$reply"

exec 3>&- # let the server free its objects and exit
status=0
wait "$pid" || status=$?
pid=
[ "$status" = 0 ] || { cat "$work/err"; echo "telemetry_server exited with $status"; exit 1; }

python3 - "$reply" "$(sed -n 's/^stats //p' "$work/out")" <<'PY'
import json, sys
replies = [json.loads(l) for l in sys.argv[1].splitlines() if l.startswith("{")]
own = json.loads(sys.argv[2])
def reply(cmd, n=0):
    return [r[cmd] for r in replies if cmd in r][n]
lst = reply("/dslab/list")
assert "tm_a" in lst and "tm_b" in lst, lst
assert any(n.startswith("kmalloc") for n in lst), lst
info = reply("/dslab/info")
assert info["name"] == "tm_a", info
assert info["objects_in_use"] == 7, info
assert info["object_size"] == 64, info
missing = sorted(set(own) - set(info))
assert not missing, "fields missing from /dslab/info: %s" % missing
diff = {k: (own[k], info[k]) for k in own if own[k] != info[k]}
assert not diff, "telemetry differs from dslab_cache_stats(): %s" % diff
assert reply("/dslab/info", 1) is None, "unknown cache answered"
print("telemetry: /dslab/list has tm_a and tm_b; /dslab/info,tm_a has all %d fields, "
      "objects_in_use 7, equal to dslab_cache_stats(): OK" % len(own))
PY
