#!/usr/bin/env bash
# Re-addressing benchmark: merges every commune of the 2025 structure into its
# neighbour (by code, within its province, cyclically), so that every resident of the
# store moves. Usage: scripts/bench-readdress.sh DATABASE_URL
# Prints the load average, then the dry-run and apply timings (wall, user and system
# CPU, peak RSS). The apply records one unit succession per commune in one transaction;
# it can run once per store (a second apply of the same units is refused).
set -euo pipefail
url="$1"
bin="$(dirname "$0")/../target/release/dancu"
units="$(dirname "$0")/../crates/dancu-domain/data/units_2025.csv"
mapping="$(mktemp --suffix=.csv)"
report="$(mktemp)"
trap 'rm -f "$mapping" "$report"' EXIT
python3 - "$units" "$mapping" <<'PY'
import csv, sys, collections
by_province = collections.defaultdict(list)
for row in csv.DictReader(open(sys.argv[1], encoding="utf-8")):
    by_province[row["province_code"]].append(row["commune_code"])
with open(sys.argv[2], "w") as out:
    out.write("old_commune_code,new_commune_code\n")
    for codes in by_province.values():
        codes.sort()
        for i, code in enumerate(codes):
            if len(codes) > 1:
                out.write(f"{code},{codes[(i + 1) % len(codes)]}\n")
PY
echo "mapping rows: $(($(wc -l <"$mapping") - 1))"
timing="wall %e s, user %U s, system %S s, peak RSS %M KB"
uptime
/usr/bin/time -f "dry run: $timing" "$bin" --database-url "$url" readdress \
    --mapping "$mapping" --effective-date 2026-01-01 >"$report"
grep -v '^  ' "$report"
echo "per-unit lines: $(grep -c '^  ' "$report"), first: $(grep -m1 '^  ' "$report")"
uptime
/usr/bin/time -f "apply: $timing" "$bin" --database-url "$url" readdress \
    --mapping "$mapping" --effective-date 2026-01-01 \
    --apply --basis "benchmark: every commune merged into its neighbour"
uptime
