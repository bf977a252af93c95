#!/usr/bin/env bash
# Re-addressing benchmark: merges every commune of the 2025 structure into its
# neighbour (by code, within its province, cyclically), so that every resident of the
# store moves. Usage: scripts/bench-readdress.sh DATABASE_URL
# Prints the dry-run and apply timings (the apply is one transaction).
set -euo pipefail
url="$1"
bin="$(dirname "$0")/../target/release/dancu"
units="$(dirname "$0")/../crates/dancu-domain/data/units_2025.csv"
mapping="$(mktemp --suffix=.csv)"
trap 'rm -f "$mapping"' EXIT
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
time "$bin" --database-url "$url" readdress --mapping "$mapping" --effective-date 2026-01-01
time "$bin" --database-url "$url" readdress --mapping "$mapping" --effective-date 2026-01-01 \
    --apply --basis "benchmark: every commune merged into its neighbour"
