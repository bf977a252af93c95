#!/usr/bin/env bash
# Runs schemathesis (PyPI) against the API's own OpenAPI document, as an officer and as
# an admin (every operation), as a civil-status officer (the /civil routes) and as a
# ministry partner (BYT key with verify, verify_batch, enrich:blood_type, sent as
# X-Api-Key: the verify, enrich and partner-usage routes), on a small demo store: every documented operation gets generated valid and
# invalid requests; the run fails on any 5xx or any answer the document does not allow.
# positive_data_acceptance is left out: the schemas say what a field looks like (12
# digits, a date shape), not every rule the registry checks (a real province code, a
# date that exists, an ID consistent with gender and birth year); such requests are
# schema-valid and rightly answered 400.
#
#   scripts/schemathesis.sh [MAX_EXAMPLES]     # default 50 cases per operation
#
# schemathesis is installed into a virtualenv under ~/.cache (override: ST_VENV).
# The report (JUnit) goes to target/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${1:-50}"
venv="${ST_VENV:-$HOME/.cache/dancu-schemathesis}"
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==4.32.*"
fi
cargo build --quiet -p dancu
dancu=target/debug/dancu

dir="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

"$dancu" --data-dir "$dir" seed --citizens 2000 >/dev/null
password="schemathesis-$(date +%s)-Pw"
add() { # username role unit → TOTP secret
    echo "$password" | "$dancu" --data-dir "$dir" user add --username "$1" --role "$2" --unit "$3" --password-stdin |
        sed -n 's/^totp: .*secret=\([A-Z2-7]*\).*/\1/p'
}
officer_secret="$(add officer officer 01)"
admin_secret="$(add admin admin 01)"
civil_secret="$(add civil civil_status_officer 01)"
# A quota far above what a run sends, so that no answer is a 429 from the quota.
api_key="$("$dancu" --data-dir "$dir" partner add --name byt --agency BYT \
    --scopes verify,verify_batch,enrich:blood_type --daily-quota 100000000 |
    sed -n 's/^api_key: //p')"

port="${ST_PORT:-18$((RANDOM % 900 + 100))}"
# No per-account or per-key rate: with it most cases are 429 and the logic behind the
# operations goes untested (the limits have their own tests in tests/abuse.rs).
"$dancu" --data-dir "$dir" serve --listen "127.0.0.1:$port" --account-rate 0 --partner-rate 0 \
    >"$dir/serve.log" 2>&1 &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 50); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done

login() { # username secret → token
    local code
    code="$("$dancu" totp code --secret "$2")"
    curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"$password\",\"totp\":\"$code\"}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

mkdir -p target/schemathesis
status=0
run() { # name, then the options that pick the caller and the operations
    local name="$1"
    shift
    echo "== schemathesis as $name ($examples cases per operation)"
    # Logging out would end the session the run uses.
    "$venv/bin/schemathesis" run "$base/api/openapi.json" "$@" \
        --checks all \
        --exclude-checks positive_data_acceptance \
        --exclude-path /api/v1/auth/logout \
        --max-examples "$examples" \
        --seed 6 \
        --suppress-health-check all \
        --no-color \
        --report junit --report-junit-path "target/schemathesis/$name.xml" || status=$?
}
for who in officer admin; do
    secret_var="${who}_secret"
    run "$who" --header "Authorization: Bearer $(login "$who" "${!secret_var}")"
done
run civil --header "Authorization: Bearer $(login civil "$civil_secret")" \
    --include-path-regex '^/api/v1/civil/'
run partner --header "X-Api-Key: $api_key" \
    --include-path-regex '^/api/v1/(verify|enrich|partner/usage)'
exit "$status"
