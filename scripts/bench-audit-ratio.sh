#!/usr/bin/env bash
# What auditing costs the citizen read (issue 3: "loses less than 20% throughput"):
# `scripts/bench-read.sh` on the same store with the normal release build and with a
# measurement build whose reads of persons write no audit entry (feature
# `bench-unaudited-reads`, built here into target/bench-unaudited; it serves loopback
# only), alternated ROUNDS times so that drifts of a shared machine hit both alike.
# Usage: scripts/bench-audit-ratio.sh DATABASE_URL [DURATION_S] [CONNECTIONS] [ROUNDS]
# Prints each run (req/s, p99, server CPU µs/request) and the ratio of the means.
set -euo pipefail
url="$1"; duration="${2:-20}"; conns="${3:-64}"; rounds="${4:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && cargo build --release -p dancu -q &&
  cargo build --release -p dancu -q --features bench-unaudited-reads \
    --target-dir target/bench-unaudited)
ids="$(mktemp)"
trap 'rm -f "$ids"' EXIT
run() {
  BENCH_IDS="$ids" WRK_THREADS="${WRK_THREADS:-1}" DANCU_BIN="$1" \
    "$root/scripts/bench-read.sh" "$url" "$duration" "$conns" 2>/dev/null |
    awk '/^ *99%/ {p99=$2} /^Requests\/sec/ {rps=$2} /CPU per request/ {cpu=$NF}
         END {print rps, p99, cpu}'
}
audited=(); unaudited=()
for i in $(seq 1 "$rounds"); do
  a=$(run "$root/target/release/dancu"); echo "audited   $a"; audited+=("${a%% *}")
  u=$(run "$root/target/bench-unaudited/release/dancu"); echo "unaudited $u"; unaudited+=("${u%% *}")
done
python3 - "${audited[*]}" "${unaudited[*]}" <<'PY'
import sys
a = [float(x) for x in sys.argv[1].split()]
u = [float(x) for x in sys.argv[2].split()]
pairs = [x / y for x, y in zip(a, u)]
print(f"audited {sum(a) / len(a):,.0f} req/s, unaudited {sum(u) / len(u):,.0f} req/s: "
      f"ratio {sum(a) / sum(u):.2f} (pairs {min(pairs):.2f}–{max(pairs):.2f})")
PY
