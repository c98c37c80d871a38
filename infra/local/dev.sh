#!/usr/bin/env bash
# `make dev`: the local stack, in the foreground until Ctrl-C.
#
#   1. the local DynamoDB server (infra/local/dynamodb.sh) and the sales table
#   2. .env.dev: the functions' configuration, production's variable names (infra/local/env_dev.py)
#   3. the Stripe stand-in on 127.0.0.1:12111 (infra/local/stripe_standin.py), unless
#      STRIPE_SECRET_KEY is set in the environment (real Stripe test mode)
#   4. the landing page example (web/) on http://127.0.0.1:8080 (infra/local/landing.py), and the
#      sales board (web/board/) at http://127.0.0.1:8080/board/index.html
#   5. `cargo lambda watch`: every function under functions/, several instances per function, on
#      an internal port (WATCH_INTERNAL_PORT, 9001)
#   6. the local API gateway on http://127.0.0.1:9000 (infra/local/gateway.py): the template's
#      HTTP API routes (/billing/…, /pipeline/…, /founding/…) with its CORS, JWT authorizer (a
#      local issuer), AWS_IAM and throttling, and every function's URL at /lambda-url/<name>/;
#      both pass the caller's own address to the function as its sourceIp
#   7. the team's alerts: each alert the webhooks publish to the local TeamAlertsTopic, printed as
#      an `[alert] …` line as it arrives (infra/local/alerts_tail.py polls the local server's
#      GET /_local/sent?service=sns)
#   8. the waitlist offers: waitlist-offers run every DEV_OFFERS_EVERY seconds (60; EventBridge's
#      5 minutes deployed) and each offer e-mail the local SES sent printed as a `[mail] …` line
#      with its link (infra/local/offers_tick.py)
#
# Ctrl-C (or SIGTERM/SIGHUP) stops what this script started, by PID: the alerts printer, the
# gateway, the watch process group and the function instances it started, the stand-in, the landing
# page server, and the DynamoDB server if this script started it (one already running is left alone).
#
# Settings, from the environment: DYNAMODB_PORT (8000), WATCH_PORT (the gateway's port, 9000),
# WATCH_INTERNAL_PORT (cargo lambda watch's own port, 9001), STRIPE_STANDIN_PORT
# (12111), DEV_CONCURRENCY (instances per function, 4), DEV_WARM (1: build every function at
# start by calling it once with a GET; 0: build on first use), DEV_RELOAD (1: rebuild a function
# when its code changes; 0: --ignore-changes), DEV_TIMEOUT (seconds an invocation may take, a
# first build included: 900), DEV_AWS_RULES (1: DynamoDB's transaction conflicts and latency on
# every table of the local server, see infra/local/aws_rules.py; 0, the default: off), DEV_TURNSTILE
# (1: the human check on founding checkouts, against the stand-in's Siteverify, with the landing
# page's widget rendering Turnstile with TURNSTILE_SITEKEY, default Cloudflare's test sitekey
# 1x00000000000000000000AA; 0, the default: off), TABLE_NAME, LANDING_PORT (8080), LANDING_URL
# (http://127.0.0.1:$LANDING_PORT), and any variable of
# .env.dev (see infra/local/env_dev.py).
set -euo pipefail

# dev.sh --warm BASE NAME...: call each function once (a GET builds it), report, and exit.
if [[ ${1:-} == --warm ]]; then
  base=$2 started_at=$3
  shift 3
  for f in "$@"; do
    t0=$(date +%s)
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1800 "$base/lambda-url/$f/" || true)
    printf '[dev] %s answers (HTTP %s to a GET, %s s; %s s since make dev started)\n' \
      "$f" "$code" "$(( $(date +%s) - t0 ))" "$(( $(date +%s) - started_at ))"
  done
  printf '[dev] ready: every function is built.\n'
  exit 0
fi

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

export DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
export STRIPE_STANDIN_PORT="${STRIPE_STANDIN_PORT:-12111}"
export TABLE_NAME="${TABLE_NAME:-agency-sales}"
# The landing page (and the board) on LANDING_PORT (8080) unless LANDING_URL says otherwise; the
# functions' origins in .env.dev follow it (env_dev.py reads LANDING_URL).
export LANDING_URL="${LANDING_URL:-http://127.0.0.1:${LANDING_PORT:-8080}}"
# WATCH_PORT keeps its name (make invoke, send_webhook and the docs use it): it is where the
# functions are reached, now through the gateway; watch itself listens on WATCH_INTERNAL_PORT.
watch_port="${WATCH_PORT:-9000}"
internal_port="${WATCH_INTERNAL_PORT:-$((watch_port + 1))}"
concurrency="${DEV_CONCURRENCY:-4}"
warm="${DEV_WARM:-1}"
python="$root/.venv/bin/python"
state="$root/.local/dev"
env_file="$root/.env.dev"
base="http://127.0.0.1:$watch_port"
started_at=$(date +%s)
mkdir -p "$state"
[[ -x "$python" ]] || python="$(command -v python3)"
[[ -d "$root/.local/cargo-lambda/bin" ]] && export PATH="$root/.local/cargo-lambda/bin:$PATH"

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '%s[dev]%s %s\n' "$bold" "$plain" "$*"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- stopping what we started ----------------------------------------------------------------
groups=()     # process groups (setsid leaders) this script started and watches
names=()
helper=""     # the warm-up's process group: stopped too, but may end by itself
started_db=no
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}
cleanup() {
  local status=$? i pid leftovers=()
  # A second signal must not cut the stopping short: a terminal's close or a supervisor signals
  # the whole process group, and make passes the signal on to this script again. With the
  # default action restored here, that second SIGTERM ended the script right after "stopping…"
  # and left the servers running; ignoring it lets the cleanup finish.
  trap '' INT TERM HUP
  trap - EXIT
  [[ ${#groups[@]} -gt 0 || $started_db == yes ]] && say "stopping…"
  [[ -n $helper ]] && kill -TERM -- "-$helper" 2>/dev/null || true
  # cargo lambda watch starts each function instance in a session of its own: note them first.
  for pid in "${groups[@]}"; do
    mapfile -t -O "${#leftovers[@]}" leftovers < <(descendants "$pid")
  done
  for (( i = ${#groups[@]} - 1; i >= 0; i-- )); do
    kill -TERM -- "-${groups[$i]}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 -- "-${groups[$i]}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-${groups[$i]}" 2>/dev/null || true
    say "stopped ${names[$i]} (process group ${groups[$i]})"
  done
  local stopped=0
  for pid in "${leftovers[@]}"; do
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      stopped=$((stopped + 1))
    fi
  done
  [[ ${#leftovers[@]} -gt 0 ]] && say "function instances: ${#leftovers[@]} ended ($stopped of them by SIGTERM)"
  if [[ $started_db == yes ]]; then
    infra/local/dynamodb.sh stop | sed 's/^/[dev] /'
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# start NAME LOG CMD...: CMD in its own session (so its whole tree can be stopped by group id)
start() {
  local name=$1 log=$2
  shift 2
  if [[ $log == - ]]; then
    setsid "$@" &
  else
    setsid "$@" >"$log" 2>&1 &
  fi
  groups+=("$!")
  names+=("$name")
}

# --- checks ----------------------------------------------------------------------------------
if ! cargo lambda -V >/dev/null 2>&1; then
  echo "cargo-lambda is missing: run 'make dev' (it installs it into .local/cargo-lambda)" >&2
  exit 1
fi
if listening "$watch_port"; then
  echo "port $watch_port is in use (another 'make dev'?); set WATCH_PORT to use another" >&2
  exit 1
fi
if listening "$internal_port"; then
  echo "port $internal_port is in use; set WATCH_INTERNAL_PORT to another free port for cargo lambda watch" >&2
  exit 1
fi

# --- 1. DynamoDB and the table -------------------------------------------------------------
if infra/local/dynamodb.sh status; then
  say "local DynamoDB already answers on port $DYNAMODB_PORT: using it (and leaving it running)"
else
  infra/local/dynamodb.sh start | sed 's/^/[dev] /'
  started_db=yes
fi
local_aws=(AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT" AWS_REGION=ap-southeast-2
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test)
say "creating the table $TABLE_NAME (the first run compiles the AWS SDK: minutes on 2 cores)…"
# No `-p sales`: resolved for the whole workspace, as `cargo lambda watch` builds the functions,
# salesctl shares their dependency builds (with -p the AWS SDK would be compiled twice).
env "${local_aws[@]}" cargo run --bin salesctl -- create-table | sed 's/^/[dev] /'
if [[ ${DEV_AWS_RULES:-0} == 1 ]]; then
  curl -sf -X POST "http://127.0.0.1:$DYNAMODB_PORT/_local/rules" \
    -d '{"table":"*","conflicts":true,"latency":true}' >/dev/null
  say "DynamoDB's rules on: transaction conflicts and latency (infra/local/aws_rules.py)"
fi

# --- 2. configuration -----------------------------------------------------------------------
mode=$("$python" infra/local/env_dev.py --out "$env_file")
say "wrote .env.dev (Stripe: $([[ $mode == standin ]] && echo "local stand-in" || echo "real test mode"))"
[[ ${DEV_TURNSTILE:-0} == 1 ]] && say "human check on: founding checkouts need a Turnstile token ($(sed -n 's/^TURNSTILE_VERIFY_URL=//p' "$env_file"))"

# --- 3. the Stripe stand-in ----------------------------------------------------------------
if [[ $mode == standin ]]; then
  if listening "$STRIPE_STANDIN_PORT"; then
    echo "port $STRIPE_STANDIN_PORT is in use; stop what runs there or set STRIPE_STANDIN_PORT" >&2
    exit 1
  fi
  # A fresh DynamoDB has no customers or holds: start the stand-in fresh with it.
  [[ $started_db == yes ]] && rm -f "$state/stripe-standin.json"
  start "the Stripe stand-in" "$state/stripe-standin.log" \
    "$python" infra/local/stripe_standin.py --env-file "$env_file" --port "$STRIPE_STANDIN_PORT" \
    --webhook-url "$base/lambda-url/stripe-webhook/" --state "$state/stripe-standin.json"
  for _ in $(seq 1 50); do listening "$STRIPE_STANDIN_PORT" && break; sleep 0.1; done
  if ! listening "$STRIPE_STANDIN_PORT"; then
    echo "the Stripe stand-in did not start; its log:" >&2
    cat "$state/stripe-standin.log" >&2
    exit 1
  fi
  say "Stripe stand-in on http://127.0.0.1:$STRIPE_STANDIN_PORT (log .local/dev/stripe-standin.log)"
fi

# --- 4. the landing page example (web/), on the origin .env.dev allows ------------------------
landing_url="$LANDING_URL"
landing_port=$(sed -nE 's#^http://(127\.0\.0\.1|localhost):([0-9]+)/?$#\2#p' <<<"$landing_url")
landing=""
if [[ -f web/example.html && -n $landing_port ]]; then
  if listening "$landing_port"; then
    say "port $landing_port is in use: not serving the landing page example (web/) there"
  else
    turnstile_page=()
    [[ ${DEV_TURNSTILE:-0} == 1 ]] && turnstile_page=(--turnstile-sitekey "${TURNSTILE_SITEKEY:-1x00000000000000000000AA}")
    start "the landing page" "$state/landing.log" \
      "$python" infra/local/landing.py --port "$landing_port" --api "$base" "${turnstile_page[@]}"
    landing="http://127.0.0.1:$landing_port/"
  fi
fi

# --- 5. the functions ---------------------------------------------------------------------
mapfile -t functions < <("$python" infra/local/functions.py)
# Nothing of the shell's AWS or Secrets Manager setup may leak into the local functions. Each
# function signs its AWS calls with its own access key id, local-<its logical id in the template>
# ([package.metadata.lambda.watch.env] in functions/<name>/Cargo.toml, which watch applies over
# .env.dev), so that the local IAM check can apply that function's policy.
reload=()
[[ ${DEV_RELOAD:-1} == 0 ]] && reload=(--ignore-changes)
start "cargo lambda watch" - env -u SECRETS_ID -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN \
  -u AWS_ENDPOINT_URL cargo lambda watch --env-file "$env_file" "${reload[@]}" \
  --invoke-address 127.0.0.1 --invoke-port "$internal_port" --concurrency "$concurrency" --disable-cors \
  --timeout "${DEV_TIMEOUT:-900}"
for _ in $(seq 1 300); do listening "$internal_port" && break; sleep 0.2; done
listening "$internal_port" || { echo "cargo lambda watch did not open port $internal_port" >&2; exit 1; }

# --- 6. the API gateway, in front of watch ---------------------------------------------------
# watch builds every event with sourceIp 127.0.0.1 and knows nothing of the template's HTTP API,
# so every request, function URLs included, goes through the gateway (infra/local/README.md).
: >"$state/gateway-access.log"
start "the API gateway" "$state/gateway.log" \
  "$python" infra/local/gateway.py --port "$watch_port" --watch "http://127.0.0.1:$internal_port" \
  --env-file "$env_file" --access-log "$state/gateway-access.log"
for _ in $(seq 1 100); do listening "$watch_port" && break; sleep 0.1; done
if ! listening "$watch_port"; then
  echo "the API gateway did not start; its log:" >&2
  cat "$state/gateway.log" >&2
  exit 1
fi

# --- 7. the team's alerts, as they are published ---------------------------------------------
# Its own process group like the rest (stopped first, by PID); -u: each line as it comes.
start "the alerts printer" - "$python" -u infra/local/alerts_tail.py --endpoint "http://127.0.0.1:$DYNAMODB_PORT"

# --- 8. the waitlist offers: the schedule's stand-in, and the e-mails SES sent -------------------
# Deployed, EventBridge runs waitlist-offers every 5 minutes; here every DEV_OFFERS_EVERY seconds
# (60), through watch's invoke API. Each offer e-mail prints as a `[mail] …` line with its link.
start "the offers ticker" - "$python" -u infra/local/offers_tick.py --endpoint "http://127.0.0.1:$DYNAMODB_PORT" \
  --watch "http://127.0.0.1:$internal_port" --every "${DEV_OFFERS_EVERY:-60}"

banner() {
  local f
  echo
  say "The API (infra/template.yaml's HTTP API, local gateway at $base; log .local/dev/gateway.log):"
  "$python" infra/local/gateway.py --print-routes --env-file "$env_file" --port "$watch_port" | sed 's/^/    /'
  echo
  say "Function URLs (cargo lambda watch, $concurrency instances each; the first call builds one):"
  for f in "${functions[@]}"; do
    # pipeline routes by path: its bare URL answers 404 (no route GET /), so show one of its routes.
    # (A function URL has no authorizer: the same routes through the API above are the real ones.)
    if [[ $f == pipeline ]]; then
      printf '    %-18s %s\n' "$f" "$base/lambda-url/$f/pipeline/summary  (any /pipeline/... or /founding/... route after the name)"
    else
      printf '    %-18s %s\n' "$f" "$base/lambda-url/$f/"
    fi
  done
  echo
  say "Try them:"
  echo "    curl -s $base/billing/founding-spots"
  echo "    curl -s -X POST $base/billing/create-checkout -H 'content-type: application/json' \\"
  echo "         -d '{\"email\":\"ada@example.com\",\"plan_type\":\"founding\",\"company_name\":\"Acme Pty Ltd\"}'"
  if [[ $mode == standin ]]; then
    echo "      then open its checkout_url, or pay without a browser:"
    echo "    curl -s -X POST http://127.0.0.1:$STRIPE_STANDIN_PORT/checkout/<session_id>/pay     # or /expire"
  fi
  echo "    # signed in (a dev token from the local issuer; ada@example.com needs a paid checkout first):"
  echo "    token=\$(curl -s -X POST $base/local-issuer/token -d '{\"email\":\"ada@example.com\"}' | $python -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
  echo "    curl -s -X POST $base/billing/customer-portal -H \"Authorization: Bearer \$token\""
  echo "    # the sales team's routes (AWS_IAM: any SigV4 Authorization header; the key id names the caller):"
  echo "    curl -s $base/pipeline/summary -H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIDLOCALSALES/20260101/ap-southeast-2/execute-api/aws4_request, SignedHeaders=host, Signature=00'"
  for f in "${functions[@]}"; do
    case $f in
      stripe-webhook)
        echo "    make send-webhook PROVIDER=stripe EVENT=checkout.session.completed EMAIL=lin@example.com" ;;
      cal-webhook)
        echo "    make send-webhook PROVIDER=cal EVENT=BOOKING_CREATED EMAIL=ada@example.com" ;;
      calendly-webhook)
        echo "    make send-webhook PROVIDER=calendly EVENT=invitee.created EMAIL=grace@example.com" ;;
    esac
  done
  if [[ -n $landing ]]; then
    echo
    say "Landing page example (web/): $landing (checkout returns to /welcome, /pricing)"
    echo "    the widget to embed (docs/widget.md): ${landing}widget/v1/agency-os-widget.js (and .css)"
    echo
    say "The sales board (docs/board.md), signed in as a dev user of the local user pool:"
    echo "    ${landing}board/index.html?login_hint=ana@agency.test     (in the sales group)"
    echo "    ${landing}board/index.html?login_hint=guest@agency.test   (not in it: the API answers 403)"
    echo "    ${landing}board/index.html                                (pick a dev user)"
  fi
  if [[ $mode == standin ]]; then
    echo
    say "Stripe stand-in: http://127.0.0.1:$STRIPE_STANDIN_PORT/ (checkout pages; webhooks to stripe-webhook)"
  else
    echo
    say "Real Stripe test mode: forward its webhooks with"
    echo "    stripe listen --forward-to $base/lambda-url/stripe-webhook/"
    echo "    (and STRIPE_WEBHOOK_SECRET=<the whsec_ it prints> make dev)"
  fi
  say "Team alerts (demo booked or cancelled, payment received or failed, founding member joined):" \
    "printed here as [alert] lines as the webhooks publish them"
  say "DynamoDB: http://127.0.0.1:$DYNAMODB_PORT, table $TABLE_NAME;" \
    "'AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT AWS_REGION=ap-southeast-2 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test cargo run -q --bin salesctl -- summary'"
  say "Ctrl-C stops everything this started."
  echo
}
banner

# --- warm up: build every function now, not on the first real request ------------------------
if [[ $warm == 1 ]]; then
  warm_order=()
  for f in founding-spots "${functions[@]}"; do
    [[ " ${functions[*]} " == *" $f "* && " ${warm_order[*]} " != *" $f "* ]] && warm_order+=("$f")
  done
  setsid "$0" --warm "$base" "$started_at" "${warm_order[@]}" &
  helper=$!
fi

# --- until Ctrl-C, or until something we started stops by itself ----------------------------
db_pidfile="$root/.local/dynamodb-$DYNAMODB_PORT.pid"
while true; do
  for i in "${!groups[@]}"; do
    if ! kill -0 "${groups[$i]}" 2>/dev/null; then
      echo "[dev] ${names[$i]} stopped by itself; stopping the rest" >&2
      exit 1
    fi
  done
  if [[ $started_db == yes ]] && ! kill -0 "$(cat "$db_pidfile" 2>/dev/null || echo 0)" 2>/dev/null; then
    echo "[dev] the local DynamoDB server stopped by itself (its log: .local/dynamodb-$DYNAMODB_PORT.log); stopping the rest" >&2
    exit 1
  fi
  sleep 1 &
  wait $! || true
done
