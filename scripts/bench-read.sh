#!/usr/bin/env bash
# Load test of GET /api/v1/citizens/{id} on an existing store, with auditing on.
# Usage: scripts/bench-read.sh DATABASE_URL [DURATION_S] [CONNECTIONS]
# Needs: a release build (or DANCU_BIN=path of another dancu binary, for A/B runs), wrk
# (apt-get install wrk), python3, curl.
# Prints wrk's latency distribution and requests/s. Every request is a real audited
# read by a national-scope officer of a random existing person.
set -euo pipefail
url="$1"; duration="${2:-30}"; conns="${3:-64}"
bin="${DANCU_BIN:-$(dirname "$0")/../target/release/dancu}"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
user="bench.$RANDOM$RANDOM"
password="đọc nhanh mười nghìn lần"
secret=$(echo "$password" | "$bin" --database-url "$url" user add --username "$user" --role officer \
  --unit VN --password-stdin | sed -n 's/^totp: .*secret=\([A-Z2-7]*\).*/\1/p')
"$bin" --database-url "$url" serve --listen 127.0.0.1:18080 --account-rate 0 >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf 127.0.0.1:18080/healthz >/dev/null && break; sleep 0.2; done
token=$(curl -sf 127.0.0.1:18080/api/v1/auth/login -H 'content-type: application/json' \
  -d "{\"username\":\"$user\",\"password\":\"$password\",\"totp\":\"$("$bin" totp code --secret "$secret")\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# 100,000 random existing IDs, exported by the product itself (kept in $BENCH_IDS when
# set, for repeated runs on the same store).
ids="${BENCH_IDS:-$work/ids.txt}"
if [ ! -s "$ids" ]; then
  "$bin" --database-url "$url" export citizens --output "$work/all.csv" >/dev/null
  python3 - "$work/all.csv" "$ids" <<'PY'
import random, sys
ids = [line.split(",", 1)[0] for line in open(sys.argv[1], encoding="utf-8")][1:]
random.seed(1)
open(sys.argv[2], "w").write("\n".join(random.sample(ids, min(100000, len(ids)))) + "\n")
PY
  rm -f "$work/all.csv"
fi
cat >"$work/read.lua" <<LUA
local ids = {}
for line in io.lines("$ids") do ids[#ids + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/v1/citizens/" .. ids[(i % #ids) + 1], { ["Authorization"] = "Bearer $token" })
end
LUA
audit_before=$(python3 - "$url" <<'PY' 2>/dev/null || echo "?"
import os, sys, sqlite3
u = sys.argv[1]
if not u.startswith("sqlite://"):
    print("?"); sys.exit()
db = sqlite3.connect(u[len("sqlite://"):])
# The audit log's own file beside the database (X.db -> X.audit.db); earlier stores have none.
root, ext = os.path.splitext(u[len("sqlite://"):])
if os.path.exists(root + ".audit" + ext):
    db.execute("attach database ? as audit", (root + ".audit" + ext,))
print(db.execute("select count(*) from audit_log").fetchone()[0])
PY
)
[ -n "${PERF_OUT:-}" ] && (sleep 5; perf record -g -p "$server" -o "$PERF_OUT" -- sleep 8 >/dev/null 2>&1) &
# The export above left a gigabyte of dirty pages: written back during the run, they
# queue before the audit log's own writes, which wait behind them (p99 12–234 ms on the
# session-14 VM). Flushed first: the run measures the service, not its own set-up.
sync
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
ticks_before=$(cpu_ticks)
wrk -t"${WRK_THREADS:-2}" -c"$conns" -d"${duration}s" --latency -s "$work/read.lua" http://127.0.0.1:18080/ | tee "$work/wrk.txt"
# CPU time per request: the figure that load from other processes disturbs least.
requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$work/wrk.txt")
echo "server CPU per request (µs): $(( ($(cpu_ticks) - ticks_before) * 1000000 / $(getconf CLK_TCK) / requests ))"
echo "resident memory of serve (kB): $(grep VmHWM /proc/$server/status | awk '{print $2}') peak, $(grep VmRSS /proc/$server/status | awk '{print $2}') now"
echo "audit rows before: $audit_before"
