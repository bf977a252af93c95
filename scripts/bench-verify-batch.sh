#!/usr/bin/env bash
# Benchmark of `dancu verify-batch` against a seeded SQLite store, with the ceiling it
# is measured against: raw primary-key multi-gets of the same IDs on the same store (the
# batch's own multi-get, `Store::identities_by_ids`, nothing else), run by the same script
# just before and just after, each under GNU time (CPU seconds: the figure a shared
# machine disturbs least).
# Usage: scripts/bench-verify-batch.sh DATA_DIR [CITIZENS] [ROWS]
#   DATA_DIR  store directory; seeded with CITIZENS (default 10,000,000) if it has none
#   ROWS      rows of the partner file (default 1,000,000), drawn from the store with the
#             faults of real files (see the generator below); reused if present
# Needs: a release build (built here), python3, GNU time (/usr/bin/time).
set -euo pipefail
dir="$1"; citizens="${2:-10000000}"; rows="${3:-1000000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release/dancu"
(cd "$root" && cargo build --release -p dancu -q)
mkdir -p "$dir"
[ -f "$dir/dancu.db" ] || "$bin" --data-dir "$dir" seed --citizens "$citizens"
input="$dir/verify-$rows.csv"
if [ ! -f "$input" ]; then
  "$bin" --data-dir "$dir" export citizens --output "$dir/export.csv" >/dev/null
  python3 - "$dir/export.csv" "$rows" "$input" <<'PY'
# Every k-th registered person, spelled as partner files spell them: ~55% exact, the
# rest NFD, upper case, extra spaces, lost diacritics, year-only and dd/mm/yyyy dates,
# swapped day and month, old 9-digit IDs, other genders, unknown and malformed IDs.
import csv, random, sys, unicodedata
src, rows, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
total = sum(1 for _ in open(src, encoding="utf-8")) - 1
step = max(1, total // rows)
rnd = random.Random(7)
def strip(s):
    s = unicodedata.normalize("NFD", s)
    return "".join(c for c in s if not unicodedata.combining(c)).replace("Đ", "D").replace("đ", "d")
with open(src, encoding="utf-8") as f, open(out, "w", encoding="utf-8", newline="") as o:
    w = csv.writer(o)
    w.writerow(["ref", "personal_id", "full_name", "date_of_birth", "gender"])
    n = 0
    for i, r in enumerate(csv.DictReader(f)):
        if i % step or n >= rows:
            continue
        pid, name, dob, g = r["personal_id"], r["full_name"], r["date_of_birth"], r["gender"]
        x = rnd.random()
        if x < 0.55: pass
        elif x < 0.60: name = unicodedata.normalize("NFD", name)
        elif x < 0.64: name = name.upper()
        elif x < 0.67: name = "  " + name.replace(" ", "   ") + " "
        elif x < 0.74: name = strip(name)
        elif x < 0.79: dob = dob[:4]
        elif x < 0.83 and len(dob) == 10: dob = f"{dob[8:10]}/{dob[5:7]}/{dob[:4]}"
        elif x < 0.88 and len(dob) == 10: dob = f"{dob[:4]}-{dob[8:10]}-{dob[5:7]}"
        elif x < 0.90 and r["old_id_number"]: pid = r["old_id_number"]
        elif x < 0.93: g = "F" if g == "M" else "M"
        elif x < 0.97: pid = pid[:6] + f"{rnd.randrange(10**6):06d}"
        else: pid = pid[:11]
        w.writerow([f"r{n}", pid, name, dob, g])
        n += 1
PY
  rm -f "$dir/export.csv"
fi
raw_bin="$root/$(cd "$root" && cargo bench -p dancu-app --bench verify_batch --no-run 2>&1 |
  sed -n 's/.*Executable .*(\(.*\))$/\1/p')"
lookups() {
  DANCU_BENCH_DB="sqlite://$dir/dancu.db" DANCU_BENCH_INPUT="$input" \
    /usr/bin/time -f 'cpu %U %S' "$raw_bin" 2>&1 | grep -E 'rows/s|^cpu' | tr '\n' ' '
}
before=$(lookups)
echo "raw multi-get (before): $before"
rm -f "$dir/verify-out.csv"
/usr/bin/time -v "$root/scripts/peak-memory.sh" "$bin" --data-dir "$dir" verify-batch --input "$input" --output "$dir/verify-out.csv" \
  >"$dir/verify.log" 2>"$dir/verify.time"
cat "$dir/verify.log"
after=$(lookups)
echo "raw multi-get (after): $after"
rss=$(grep 'Maximum resident' "$dir/verify.time" | awk '{print $NF}')
echo "verify-batch peak RSS: $((rss / 1024)) MiB, of which $(grep 'peak heap' "$dir/verify.time")"
python3 - "$before" "$after" "$(head -1 "$dir/verify.log")" "$(cat "$dir/verify.time")" <<'PY'
import re, sys
num = lambda s, pat: float(re.search(pat, s).group(1))
raw = [num(s, r"([\d.]+) rows/s") for s in sys.argv[1:3]]
# CPU microseconds per row: what load from other processes changes least.
raw_cpu = [(num(s, r"cpu ([\d.]+)") + num(s, r"cpu [\d.]+ ([\d.]+)")) * 1e6
           / num(s, r"^(\d+) IDs") for s in sys.argv[1:3]]
verify = num(sys.argv[3], r"\(([\d.]+) rows/s\)")
rows = num(sys.argv[3], r"verified (\d+) rows")
t = sys.argv[4]
verify_cpu = (num(t, r"User time \(seconds\): ([\d.]+)") + num(t, r"System time \(seconds\): ([\d.]+)")) * 1e6 / rows
print(f"verify-batch {verify:,.0f} rows/s; raw multi-get {min(raw):,.0f}–{max(raw):,.0f} rows/s; "
      f"ratio {verify / max(raw):.2f}–{verify / min(raw):.2f}")
print(f"CPU per row: verify-batch {verify_cpu:.2f} µs; raw multi-get {min(raw_cpu):.2f}–{max(raw_cpu):.2f} µs; "
      f"ratio {min(raw_cpu) / verify_cpu:.2f}–{max(raw_cpu) / verify_cpu:.2f}")
PY
