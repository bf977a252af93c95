#!/usr/bin/env bash
# Load test of POST /api/v1/verify on an existing store, with auditing and quota
# counting on. Usage: scripts/bench-verify.sh DATA_DIR [DURATION_S] [CONNECTIONS]
# (DATA_DIR holds dancu.db, e.g. after `dancu --data-dir DATA_DIR seed --citizens 1000000`).
# Needs: a release build, wrk (apt-get install wrk), python3, curl.
# Each request verifies a random existing person as partners send them: ~60% spelled as
# the registry has them, the rest with lost diacritics, upper case, a year only, a
# swapped day and month, or another gender; 5% unknown ID numbers.
set -euo pipefail
dir="$1"; duration="${2:-30}"; conns="${3:-64}"
bin="$(dirname "$0")/../target/release/dancu"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
key=$("$bin" --data-dir "$dir" partner add --name "bench.$RANDOM$RANDOM" --scopes verify \
  --daily-quota 1000000000000 | sed -n 's/^api_key: //p')
"$bin" --data-dir "$dir" serve --listen 127.0.0.1:18081 --partner-rate 0 >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf 127.0.0.1:18081/healthz >/dev/null && break; sleep 0.2; done
# 100,000 random existing people, exported by the product itself, as request bodies.
"$bin" --data-dir "$dir" export citizens --output "$work/all.csv" >/dev/null
python3 - "$work/all.csv" "$work/bodies.txt" <<'PY'
import csv, json, random, sys, unicodedata
random.seed(1)
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8-sig")))
out = open(sys.argv[2], "w", encoding="utf-8")
for r in random.sample(rows, min(100000, len(rows))):
    name, dob, gender, pid = r["full_name"], r["date_of_birth"], r["gender"], r["personal_id"]
    k = random.random()
    if k < 0.10:
        name = "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c)).replace("Đ", "D").replace("đ", "d")
    elif k < 0.20:
        name = name.upper()
    elif k < 0.25:
        dob = dob[:4]
    elif k < 0.30 and len(dob) == 10:
        dob = dob[:5] + dob[8:] + dob[4:7]
    elif k < 0.35:
        gender = "F" if gender == "M" else "M"
    elif k < 0.40:
        pid = pid[:6] + "999999"
    body = {"personal_id": pid, "full_name": name, "date_of_birth": dob, "gender": gender}
    # One body per line; Lua sends it as is.
    out.write(json.dumps(body, ensure_ascii=False) + "\n")
PY
cat >"$work/verify.lua" <<LUA
local bodies = {}
for line in io.lines("$work/bodies.txt") do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/api/v1/verify",
    { ["X-Api-Key"] = "$key", ["Content-Type"] = "application/json" },
    bodies[(i % #bodies) + 1])
end
LUA
# wrk prints "Non-2xx or 3xx responses" if any answer was not 200.
[ -n "${PERF_OUT:-}" ] && (sleep 5; perf record -g -p "$server" -o "$PERF_OUT" -- sleep 8 >/dev/null 2>&1) &
# The export above left a gigabyte of dirty pages: written back during the run, they
# queue before the audit log's own writes, which wait behind them (p99 12–234 ms on the
# session-14 VM). Flushed first: the run measures the service, not its own set-up.
sync
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
ticks_before=$(cpu_ticks)
wrk -t"${WRK_THREADS:-2}" -c"$conns" -d"${duration}s" --latency -s "$work/verify.lua" http://127.0.0.1:18081/ | tee "$work/wrk.txt"
# CPU time per request: the figure that load from other processes disturbs least.
requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$work/wrk.txt")
echo "server CPU per request (µs): $(( ($(cpu_ticks) - ticks_before) * 1000000 / $(getconf CLK_TCK) / requests ))"
echo "resident memory of serve (kB): $(grep VmHWM /proc/$server/status | awk '{print $2}') peak, $(grep VmRSS /proc/$server/status | awk '{print $2}') now"
