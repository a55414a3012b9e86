#!/usr/bin/env bash
# Run pachs3's Pachyderm suites against a live pachd 2.6.0 on loopback, no Docker, no Kubernetes.
#
#   tests/pachyderm/live/run_live.sh            # build (cached), start, run everything, stop
#   tests/pachyderm/live/run_live.sh --serve    # build, start, print the address, wait for ^C
#
# 1. Builds pachd from the published Go module github.com/pachyderm/pachyderm/v2@v2.6.0
#    (tests/pachyderm/live/pachd: Pachyderm's in-process server, see serve_test.go) once, into
#    $PACHS3_PACHD_CACHE (default ~/.cache/pachs3-pachd); rebuilt only when that module changes.
# 2. Starts, all on 127.0.0.1 and all under one temporary directory: Postgres (initdb), pgbouncer
#    in front of it (as in a deployment), and pachd (embedded etcd, chunks on local disk).
# 3. Runs against it, each step's result recorded: the wire check, the backend conformance suite
#    and the boto3 gateway suite (PachydermBackend params, PACHS3_SCRATCH_PACHD), the live gateway
#    smoke (PACHS3_PACHD_ADDRESS), `pachs3 run --pachd` of the seed example, and the PFS scenario
#    file on the double and on pachd.
# 4. Stops everything it started (trap) and removes the temporary directory.
#
# Needs: go, Postgres 15 server binaries (initdb, pg_ctl), pgbouncer, protoc, and a Python with
# pachs3[all] and awscli (`nox -s pachd` provides that). Exit status: 0 only if every step passed.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
PYTHON="${PYTHON:-python}"
CACHE="${PACHS3_PACHD_CACHE:-$HOME/.cache/pachs3-pachd}"
VERSION="2.6.0"
BINARY="$CACHE/pachd-live-$VERSION"
PG_USER="pachyderm"
PG_PASSWORD="correcthorsebatterystaple"  # pachd's test default; a loopback-only throwaway cluster
PG_DB="pachyderm"

log() { printf '[run_live %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

for tool in go pgbouncer protoc; do command -v "$tool" >/dev/null || die "$tool not found"; done
PG_BIN="${PG_BIN:-$(dirname "$(readlink -f "$(command -v initdb || echo /usr/lib/postgresql/15/bin/initdb)")")}"
[ -x "$PG_BIN/initdb" ] || die "Postgres server binaries not found (set PG_BIN)"

# -- 1. build ---------------------------------------------------------------------------------
inputs_hash() { cat "$HERE/pachd/go.mod" "$HERE/pachd/go.sum" "$HERE/pachd/serve_test.go" | sha256sum | cut -d' ' -f1; }
mkdir -p "$CACHE"
if [ -x "$BINARY" ] && [ "$(cat "$BINARY.inputs" 2>/dev/null)" = "$(inputs_hash)" ]; then
    log "pachd $VERSION: cached ($BINARY)"
    BUILD_TIME="0s (cached binary)"
else
    log "pachd $VERSION: building (a cold build downloads ~1 GB of modules and takes many minutes)"
    started=$(now)
    (cd "$HERE/pachd" && go test -c -vet=off -o "$BINARY.new" .) || die "go build of pachd $VERSION"
    mv "$BINARY.new" "$BINARY" && inputs_hash > "$BINARY.inputs"
    BUILD_TIME="$(since "$started")s"
    log "pachd $VERSION: built in $BUILD_TIME"
fi

# -- 2. start ---------------------------------------------------------------------------------
WORK="$(mktemp -d /tmp/pachs3-live.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local status=$?
    log "stopping what this script started"
    for (( i=${#PIDS[@]}-1; i>=0; i-- )); do
        pid="${PIDS[$i]}"
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -s "$WORK/pgbouncer.pid" ]; then
        pid="$(cat "$WORK/pgbouncer.pid")"
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
    if [ -f "$WORK/pg/postmaster.pid" ]; then as_db "$PG_BIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1; fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Postgres and pgbouncer refuse to run as root: run them as the `postgres` user when we are root.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user"
    chown postgres "$WORK"
    as_db() { runuser -u postgres -- "$@"; }
else
    as_db() { "$@"; }
fi
free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

started=$(now)
PG_PORT="$(free_port)"
printf '%s\n' "$PG_PASSWORD" > "$WORK/pwfile" && chmod 644 "$WORK/pwfile"
as_db "$PG_BIN/initdb" -D "$WORK/pg" -U "$PG_USER" --pwfile="$WORK/pwfile" -A scram-sha-256 \
    --no-sync >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log"; die "initdb"; }
as_db "$PG_BIN/pg_ctl" -D "$WORK/pg" -w -l "$WORK/postgres.log" -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$WORK -c fsync=off -c max_connections=300" \
    start >/dev/null || { cat "$WORK/postgres.log"; die "postgres start"; }
PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "CREATE DATABASE $PG_DB" \
    || die "create database"
log "postgres on 127.0.0.1:$PG_PORT"

BOUNCER_PORT="$(free_port)"
cat > "$WORK/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$PG_PORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $WORK/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 80
ignore_startup_parameters = extra_float_digits
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
EOF
printf '"%s" "%s"\n' "$PG_USER" "$PG_PASSWORD" > "$WORK/userlist.txt"
chmod 644 "$WORK/pgbouncer.ini" "$WORK/userlist.txt"
# Daemonized with a pid file: the cleanup stops it by that pid (a background `runuser` would
# leave pgbouncer running when only its parent is signalled).
as_db pgbouncer -d "$WORK/pgbouncer.ini" >/dev/null 2>&1 || { cat "$WORK/pgbouncer.log"; die "pgbouncer start"; }
for _ in $(seq 1 50); do
    PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$BOUNCER_PORT" -U "$PG_USER" -d "$PG_DB" -qtc "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.2
done
PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$BOUNCER_PORT" -U "$PG_USER" -d "$PG_DB" -qtc "SELECT 1" >/dev/null \
    || { cat "$WORK/pgbouncer.log"; die "pgbouncer"; }
log "pgbouncer on 127.0.0.1:$BOUNCER_PORT"

mkdir -p "$WORK/pachd"
(
    cd "$WORK/pachd" &&
    TMPDIR="$WORK/pachd" \
    PACHS3_LIVE_ADDRESS_FILE="$WORK/pachd.address" \
    PACHS3_LIVE_PG_HOST=127.0.0.1 PACHS3_LIVE_PG_PORT="$PG_PORT" PACHS3_LIVE_PGBOUNCER_PORT="$BOUNCER_PORT" \
    PACHS3_LIVE_PG_DB="$PG_DB" PACHS3_LIVE_PG_USER="$PG_USER" PACHS3_LIVE_PG_PASSWORD="$PG_PASSWORD" \
    exec "$BINARY" -test.run '^TestServe$' -test.timeout 0 -test.v
) >"$WORK/pachd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 600); do [ -s "$WORK/pachd.address" ] && break; kill -0 "${PIDS[-1]}" 2>/dev/null || break; sleep 0.2; done
[ -s "$WORK/pachd.address" ] || { tail -50 "$WORK/pachd.log"; die "pachd did not come up"; }
ADDRESS="$(cat "$WORK/pachd.address")"
"$PYTHON" "$HERE/scenarios.py" --ping "$ADDRESS" || { tail -50 "$WORK/pachd.log"; die "pachd does not answer PFS"; }
START_SECONDS="$(since "$started")"
log "pachd $VERSION on $ADDRESS (postgres + pgbouncer + pachd up in ${START_SECONDS}s)"

if [ "${1:-}" = "--serve" ]; then
    echo "PACHS3_SCRATCH_PACHD=$ADDRESS"
    log "serving until interrupted; pachd's log: $WORK/pachd.log"
    wait "${PIDS[-1]}"
    exit 0
fi

# -- 3. run -----------------------------------------------------------------------------------
RESULTS=()
FAILED=0
step() {  # step NAME COMMAND...: run, time, record
    local name="$1"; shift
    local begun; begun=$(now)
    log "== $name"
    if "$@"; then RESULTS+=("passed  $(since "$begun")s  $name"); else RESULTS+=("FAILED  $(since "$begun")s  $name"); FAILED=1; fi
}

cd "$ROOT"
GO_MODULE_DIR="$(cd "$HERE/pachd" && go list -m -f '{{.Dir}}' github.com/pachyderm/pachyderm/v2)"
wire_check() {
    protoc -I "$GO_MODULE_DIR/src" -I "$(cd "$HERE/pachd" && go list -m -f '{{.Dir}}' github.com/gogo/protobuf)" \
        --include_imports --descriptor_set_out="$WORK/pfs.desc" pfs/pfs.proto transaction/transaction.proto &&
    "$PYTHON" "$HERE/wire_check.py" "$WORK/pfs.desc"
}
# The example's transform works in a fixed /tmp/result: as root, give it a /tmp of its own (a
# mount namespace with a fresh tmpfs) so no other run's files get into its output, nor its into theirs.
private_tmp() {
    if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
        unshare --mount --propagation private sh -c 'mount -t tmpfs tmpfs /tmp && exec "$@"' private_tmp "$@"
    else
        log "not root: the seed example shares /tmp/result with anything else on this machine"
        "$@"
    fi
}
seed_example() {
    local spec=examples/s3_protocol_enabled_pipeline
    "$PYTHON" "$HERE/scenarios.py" --delete-all "$ADDRESS" &&  # its repos start empty
    private_tmp "$PYTHON" -m pachs3.cli run --pachd "$ADDRESS" "$spec/pipeline.json" --input "labresults=$spec/labresults" &&
    "$PYTHON" "$HERE/scenarios.py" --check-seed-output "$ADDRESS" "$spec/labresults"
}
export PACHS3_SCRATCH_PACHD="$ADDRESS"
step "wire check: python-pachyderm vs pachd $VERSION pfs.proto, transaction.proto" wire_check
step "backend conformance suite (PachydermBackend, live)" \
    "$PYTHON" -m pytest -q -p no:cacheprovider tests/backends -k pachyderm
step "boto3 gateway suite (PachydermBackend, live)" \
    "$PYTHON" -m pytest -q -p no:cacheprovider tests/gateway/test_s3_boto3.py -k pachyderm
step "gateway smoke (live)" env PACHS3_PACHD_ADDRESS="$ADDRESS" \
    "$PYTHON" -m pytest -q -p no:cacheprovider tests/pachyderm/test_gateway_smoke.py -m live
step "pachs3 run --pachd (seed example)" seed_example
step "PFS scenarios: double vs pachd $VERSION" "$PYTHON" "$HERE/scenarios.py" --live "$ADDRESS"
unset PACHS3_SCRATCH_PACHD

log "summary (pachd $VERSION; build $BUILD_TIME; start ${START_SECONDS}s)"
printf '  %s\n' "${RESULTS[@]}"
[ "$FAILED" = 0 ] || { log "pachd's log tail:"; tail -20 "$WORK/pachd.log"; }
exit "$FAILED"
