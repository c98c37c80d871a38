#!/usr/bin/env bash
# Starts and stops the local DynamoDB server (moto, serialised) that tests and `make dev` use.
#
#   dynamodb.sh start          start it unless it already answers; wait until it does
#   dynamodb.sh stop           stop the server this script started (by its PID file), nothing else
#   dynamodb.sh status         exit 0 if it answers
#   dynamodb.sh run -- CMD...  run CMD with the server up; stop it afterwards if this call started it
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
port="${DYNAMODB_PORT:-8000}"
state="$root/.local"
pidfile="$state/dynamodb-$port.pid"
logfile="$state/dynamodb-$port.log"
python="${VENV:-$root/.venv}/bin/python"

answers() {
  curl -s -o /dev/null --max-time 2 -X POST "http://127.0.0.1:$port/" \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/ap-southeast-2/dynamodb/aws4_request, SignedHeaders=host, Signature=0" \
    -d '{}'
}

start() {
  if answers; then
    echo "local DynamoDB already answers on port $port"
    return 1
  fi
  mkdir -p "$state"
  "$python" "$here/dynamodb_server.py" --host 127.0.0.1 --port "$port" >"$logfile" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    if answers; then
      echo "local DynamoDB started on http://127.0.0.1:$port (pid $(cat "$pidfile"), log $logfile)"
      return 0
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "local DynamoDB failed to start; its log:" >&2
      cat "$logfile" >&2
      rm -f "$pidfile"
      exit 1
    fi
    sleep 0.2
  done
  echo "local DynamoDB did not answer within 20 s; log: $logfile" >&2
  exit 1
}

stop() {
  if [[ -f "$pidfile" ]]; then
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "local DynamoDB stopped (pid $pid)"
    fi
    rm -f "$pidfile"
  fi
}

case "${1:-}" in
  start) start || true ;;
  stop) stop ;;
  status) answers ;;
  run)
    shift
    [[ "${1:-}" == "--" ]] && shift
    started=no
    if start; then started=yes; fi
    status=0
    "$@" || status=$?
    if [[ $started == yes ]]; then stop; fi
    exit $status
    ;;
  *)
    echo "usage: $0 start|stop|status|run -- CMD..." >&2
    exit 2
    ;;
esac
