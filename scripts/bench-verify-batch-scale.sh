#!/usr/bin/env bash
# The credit bureau's scale: `dancu verify-batch` of COPIES times the 1,000,000-row
# partner file that scripts/bench-verify-batch.sh draws from the store (run it first),
# with fresh `ref`s per copy, against the same store; prints the rate, CPU seconds,
# peak RSS and its heap part. The audit file grows by a row per listed person: run it on a copy of the
# data dir (or restore `dancu.audit.db*` afterwards) when later figures must start clean.
# Usage: scripts/bench-verify-batch-scale.sh DATA_DIR [COPIES (default 57)]
# Needs: a release build (built here), GNU time (/usr/bin/time), ~60 MB of disk per copy
# for the input and as much for the output.
set -euo pipefail
dir="$1"; copies="${2:-57}"
root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && cargo build --release -p dancu -q)
base="$dir/verify-1000000.csv"
[ -f "$base" ] || { echo "no $base: run scripts/bench-verify-batch.sh $dir first" >&2; exit 1; }
input="$dir/verify-${copies}x.csv"
if [ ! -f "$input" ]; then
  { head -1 "$base"; for i in $(seq 1 "$copies"); do tail -n +2 "$base" | sed "s/^r/c${i}_r/"; done; } >"$input"
fi
rm -f "$dir/verify-scale-out.csv"
/usr/bin/time -f 'cpu %U user %S sys, peak RSS %M KB' "$root/scripts/peak-memory.sh" \
  "$root/target/release/dancu" --data-dir "$dir" \
  verify-batch --input "$input" --output "$dir/verify-scale-out.csv" 2>&1 | grep -E 'rows/s|cpu|peak heap'
rm -f "$dir/verify-scale-out.csv"
