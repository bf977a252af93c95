#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for SECONDS each (default 60) on the stable toolchain:
# the targets are built as libFuzzer binaries with the same coverage instrumentation
# that `cargo fuzz build --sanitizer none` uses, so neither nightly nor cargo-fuzz is
# needed. A crash stops the script (non-zero) and leaves its input in
# fuzz/artifacts/TARGET/; rerun it with `fuzz/target/$HOST/release/TARGET FILE`.
# Corpora grow in fuzz/corpus/TARGET/ (not committed; seeds come from fuzz/seeds/).
#
#   scripts/fuzz.sh 600            # ten minutes per target
#   scripts/fuzz.sh 30 name csv    # only targets whose name contains one of the words
#   scripts/fuzz.sh --domain 10    # only the pure parsers of dancu-domain (CI: small build)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

features=()
if [ "${1:-}" = "--domain" ]; then
    features=(--no-default-features)
    shift
fi
seconds="${1:-60}"
shift || true
host="$(rustc -vV | sed -n 's/^host: //p')"
# --target keeps the instrumentation off build scripts and proc macros.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing"
cargo build --locked --release --target "$host" --bins "${features[@]}"

if [ "${#features[@]}" -gt 0 ]; then
    targets="personal_id name partial_date legacy_decode"
else
    targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^dancu-fuzz$')
fi
if [ "$#" -gt 0 ]; then
    targets=$(for t in $targets; do for w in "$@"; do case "$t" in *"$w"*) echo "$t" ;; esac; done; done | sort -u)
fi

# The store-backed targets make a store under $TMPDIR per process.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"

for t in $targets; do
    mkdir -p "corpus/$t" "artifacts/$t"
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    echo "== $t: ${seconds}s"
    log="$scratch/$t.log"
    if ! "target/$host/release/$t" "corpus/$t" "${seeds[@]}" \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "$t: FAILED, the input is in fuzz/artifacts/$t/"
        exit 1
    fi
    grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log"
    sed -n 's/^#[0-9]*.*DONE *\(cov: [0-9]*\).*/\1/p' "$log" | tail -n 1
done
