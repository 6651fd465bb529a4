#!/usr/bin/env bash
# HTTP API load benchmark: GET /configs/{id}; POST /configs/{id}/run without
# a body, with a payload, with a payload and a new Idempotency-Key each time,
# and with one key over and over (a retry storm: answered, nothing queued);
# and signed webhook deliveries (POST /hooks/{id}, a new delivery id each)
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
    -d '{"name":"bench","task_type":"echo","scheduler_type":"manual","parameters":{"x":1},
         "webhook":{"secret":"bench-webhook-secret"}}' \
    "$BASE/configs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
PAYLOAD='{"parameters":{"image":123,"size":"thumb"}}'
HOOK_BODY='{"ref":"refs/heads/main","after":"0123456789abcdef"}'
SIGNATURE="sha256=$(printf '%s' "$HOOK_BODY" | openssl dgst -sha256 -hmac bench-webhook-secret | sed 's/^.* //')"

# POSTs `body` with `headers`; `unique` names a header that gets a new value
# per request (a key, a delivery id).
post() {
    local what=$1 path=$2 body=$3 unique=$4
    shift 4
    # A static request unless a header must change (a request() function
    # costs wrk, on the same two cores, a fifth of its rate).
    printf 'wrk.method = "POST"\nwrk.body = %s\n' "'$body'" > "$LUA"
    [ -n "$body" ] && echo 'wrk.headers["content-type"] = "application/json"' >> "$LUA"
    if [ -n "$unique" ]; then
        cat >> "$LUA" <<LUA
local n, tag = 0, tostring(math.random(1, 1000000000))
request = function()
  n = n + 1
  local h = {}
  for k, v in pairs(wrk.headers) do h[k] = v end
  h["$unique"] = tag .. "-" .. n
  return wrk.format(nil, nil, h)
end
LUA
    fi
    echo "== $what ($CONNECTIONS connections, ${SECONDS_EACH}s; roles $ROLES) =="
    wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -s "$LUA" "$@" "$BASE$path" \
        | grep -E "Requests/sec|^ +50%|^ +99%|Non-2xx"
}

echo "== GET /configs/{id} ($CONNECTIONS connections, ${SECONDS_EACH}s) =="
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -H "Authorization: Bearer $TOKEN" "$BASE/configs/$ID" \
    | grep -E "Requests/sec|^ +50%|^ +99%|Non-2xx"


AUTH=(-H "Authorization: Bearer $TOKEN")
post "POST /configs/{id}/run, no body" "/configs/$ID/run" "" "" "${AUTH[@]}"
post "POST /configs/{id}/run, a payload" "/configs/$ID/run" "$PAYLOAD" "" "${AUTH[@]}"
post "POST /configs/{id}/run, a payload and a new Idempotency-Key each" "/configs/$ID/run" "$PAYLOAD" \
    "Idempotency-Key" "${AUTH[@]}"
post "POST /configs/{id}/run, one Idempotency-Key again and again (nothing queued)" "/configs/$ID/run" \
    "$PAYLOAD" "" "${AUTH[@]}" -H "Idempotency-Key: the-same-key"
post "POST /hooks/{id}, signed, a new delivery id each" "/hooks/$ID" "$HOOK_BODY" "X-Taskbox-Delivery" \
    -H "X-Taskbox-Signature: $SIGNATURE"
