#!/usr/bin/env bash
# HTTP API load benchmark: GET /configs/{id} and POST /configs/{id}/run
# under wrk, against `taskbox serve`, with a fresh database (and Redis key
# prefix) that is removed afterwards.
#
# Run: cargo xtask plugins && runtime/benches/api.sh   (needs wrk: apt-get install wrk)
# Options (environment): DEPLOY (distributed: the local PostgreSQL + Redis;
# embedded: a temporary SQLite file and the local backend), ROLES
# (api,scheduler,worker; `api` measures the API alone, runs stay queued),
# SECONDS_EACH (10), CONNECTIONS (32), PORT (18080).
set -euo pipefail
cd "$(dirname "$0")/../.."

DEPLOY=${DEPLOY:-distributed}
ROLES=${ROLES:-api,scheduler,worker}
SECONDS_EACH=${SECONDS_EACH:-10}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18080}
DB="taskbox_bench_api_$$"
PREFIX="taskbox-bench-api:$$:"
TOKEN="bench-token-$$"
BASE="http://127.0.0.1:$PORT/api/v1"
PG="postgres://postgres@127.0.0.1:5432"

cargo build --release --quiet -p taskbox
LUA=$(mktemp --suffix .lua)
SQLITE_DIR=$(mktemp -d)
cleanup() {
    [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    if [ "$DEPLOY" = distributed ]; then
        psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
        redis-cli --scan --pattern "${PREFIX}*" | xargs -r redis-cli unlink >/dev/null || true
    fi
    rm -rf "$LUA" "$SQLITE_DIR"
}
trap cleanup EXIT

if [ "$DEPLOY" = distributed ]; then
    psql "$PG/postgres" -qc "CREATE DATABASE $DB"
    export TASKBOX_DATABASE_URL="$PG/$DB" TASKBOX_REDIS_URL=redis://127.0.0.1:6379 TASKBOX_REDIS_PREFIX="$PREFIX"
else
    export TASKBOX_DATABASE_URL="sqlite://$SQLITE_DIR/taskbox.db"
    unset TASKBOX_REDIS_URL
fi
echo "deployment: $DEPLOY, roles: $ROLES"
TASKBOX_ROLES="$ROLES" TASKBOX_BIND="127.0.0.1:$PORT" TASKBOX_ADMIN_TOKEN="$TOKEN" RUST_LOG=warn \
    target/release/taskbox serve &
PID=$!
for _ in $(seq 100); do curl -sf "$BASE/system/health" >/dev/null && break; sleep 0.1; done

ID=$(curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"name":"bench","task_type":"echo","scheduler_type":"manual","parameters":{"x":1}}' \
    "$BASE/configs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

echo "== GET /configs/{id} ($CONNECTIONS connections, ${SECONDS_EACH}s) =="
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -H "Authorization: Bearer $TOKEN" "$BASE/configs/$ID" \
    | grep -E "Requests/sec|^ +50%|^ +99%|Non-2xx"

echo "== POST /configs/{id}/run ($CONNECTIONS connections, ${SECONDS_EACH}s; roles $ROLES) =="
echo 'wrk.method = "POST"' > "$LUA"
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -s "$LUA" -H "Authorization: Bearer $TOKEN" "$BASE/configs/$ID/run" \
    | grep -E "Requests/sec|^ +50%|^ +99%|Non-2xx"
