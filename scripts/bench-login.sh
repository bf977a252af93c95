#!/usr/bin/env bash
# Login throughput (Argon2id + TOTP) and what it does to other requests.
# Usage: scripts/bench-login.sh [ACCOUNTS] [CLIENT_THREADS]
# Needs: a release build (cargo build --release), python3, curl.
# Creates a small store with ACCOUNTS officer accounts (each logs in once: a TOTP step
# is accepted only once per account), then, while a reader thread keeps reading one
# citizen, fires all the logins from CLIENT_THREADS threads. Prints logins/s and the
# reader's latency before and during the login storm.
set -euo pipefail
accounts="${1:-600}"; threads="${2:-16}"
bin="$(dirname "$0")/../target/release/dancu"
work="$(mktemp -d)"
port=18081
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
db="sqlite://$work/dancu.db"
"$bin" --database-url "$db" seed --citizens 10000 >/dev/null 2>&1
password="đèn đỏ ngã tư phố Huế"
echo "creating $accounts accounts…"
for i in $(seq 1 "$accounts"); do
  echo "$password" | "$bin" --database-url "$db" user add --username "load.$i" \
    --role officer --unit VN --password-stdin | sed -n 's/^totp: .*secret=\([A-Z2-7]*\).*/\1/p'
done >"$work/secrets.txt"
"$bin" --database-url "$db" export citizens --output "$work/all.csv" >/dev/null
"$bin" --database-url "$db" serve --listen "127.0.0.1:$port" --account-rate 0 >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
python3 - "$port" "$work/secrets.txt" "$work/all.csv" "$password" "$threads" "$server" <<'PY'
import base64, os, hmac, json, statistics, struct, sys, threading, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
port, secrets_file, csv_file, password, threads, server_pid = sys.argv[1:7]

def server_cpu_seconds():
    # utime + stime of the server process, from /proc (clock ticks).
    fields = open(f"/proc/{server_pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
base = f"http://127.0.0.1:{port}"
secrets = open(secrets_file).read().split()
person = open(csv_file, encoding="utf-8").readlines()[1].split(",", 1)[0]

def totp(secret, step):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), "sha1").digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)

def post(path, body, token=None):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), {"content-type": "application/json"})
    if token:
        req.add_header("authorization", "Bearer " + token)
    return urllib.request.urlopen(req, timeout=30)

def login(i):
    code = totp(secrets[i], int(time.time()) // 30)
    with post("/api/v1/auth/login", {"username": f"load.{i + 1}", "password": password, "totp": code}) as r:
        return json.load(r)["token"]

reader_token = login(0)
latencies, phase, stop = {"idle": [], "storm": []}, ["idle"], threading.Event()
def reader():
    req = urllib.request.Request(f"{base}/api/v1/citizens/{person}", headers={"authorization": "Bearer " + reader_token})
    while not stop.is_set():
        t = time.perf_counter()
        urllib.request.urlopen(req, timeout=30).read()
        latencies[phase[0]].append(time.perf_counter() - t)
        time.sleep(0.005)
r = threading.Thread(target=reader); r.start()
time.sleep(3)
phase[0] = "storm"
start, cpu_start = time.perf_counter(), server_cpu_seconds()
with ThreadPoolExecutor(int(threads)) as pool:
    tokens = list(pool.map(login, range(1, len(secrets))))
elapsed, server_cpu = time.perf_counter() - start, server_cpu_seconds() - cpu_start
stop.set(); r.join()
ok = sum(1 for t in tokens if t)
print(f"logins: {ok} in {elapsed:.2f} s = {ok / elapsed:.1f}/s ({threads} client threads)")
# The server's own CPU per login tells its capacity apart from the client's share of the
# same 2 cores (the Python client and the reader run beside it).
print(f"server CPU: {server_cpu:.2f} s = {1000 * server_cpu / max(ok, 1):.1f} ms per login "
      f"(capacity on {os.cpu_count()} cores: {ok * os.cpu_count() / max(server_cpu, 1e-9):.0f}/s)")
for name, xs in latencies.items():
    xs.sort()
    print(f"reader during {name}: {len(xs)} reads, p50 {1000 * xs[len(xs) // 2]:.1f} ms, "
          f"p99 {1000 * xs[int(len(xs) * 0.99)]:.1f} ms, max {1000 * xs[-1]:.1f} ms")
PY
