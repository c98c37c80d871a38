#!/usr/bin/env bash
# `make e2e`: the local stack (`make dev`) in the background, then against it, over real HTTP and
# through the local API gateway (infra/local/gateway.py) as in production:
#   1. the landing-page widget in headless Chromium (tests/browser/widget.test.mjs), on the fresh
#      table `make dev` made; it also signs in and opens the billing portal; then the sales
#      team's board (tests/browser/board.test.mjs): sign-in, moves, a conflict, the dashboard;
#   2. the end-to-end test (cargo test -p sales-tests --test e2e), which empties the table for
#      each of its scenarios, and checks the gateway: CORS, the JWT authorizer, IAM, throttling,
#      and callers on 127.0.0.2 / 127.0.0.3 reaching the functions as themselves;
# then stops the stack (SIGTERM to make dev, which stops what it started, by PID).
#
# Installs what it needs: Debian's chromium (when /usr/bin/chromium is missing and apt-get can
# run), and playwright-core in tests/browser (npm ci). Screenshots: target/browser-screenshots/.
# Settings: E2E_SKIP_BROWSER=1 runs only the HTTP test; E2E_TIMEOUT (seconds to wait for the
# stack, the first build included: 2400); the ports of make dev (DYNAMODB_PORT, WATCH_PORT,
# WATCH_INTERNAL_PORT, STRIPE_STANDIN_PORT, LANDING_PORT: 8080) to run beside another stack.
set -euo pipefail
landing_port="${LANDING_PORT:-8080}"
export LANDING_PORT="$landing_port"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
state="$root/.local/e2e"
mkdir -p "$state"
log="$state/dev.log"
say() { printf '[e2e] %s\n' "$*"; }

if [[ ${E2E_SKIP_BROWSER:-0} != 1 ]]; then
  if [[ ! -x /usr/bin/chromium ]]; then
    say "installing Debian's chromium (browser test)…"
    if [[ $(id -u) == 0 ]]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends chromium >"$state/apt.log" 2>&1 \
      || { DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update >>"$state/apt.log" 2>&1 &&
           DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends chromium >>"$state/apt.log" 2>&1; } \
      || { tail -20 "$state/apt.log" >&2; echo "[e2e] could not install chromium" >&2; exit 1; }
  fi
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# The stack, in a session of its own; the functions are built at start (DEV_WARM) and not rebuilt
# while the tests run (DEV_RELOAD=0). A fresh DynamoDB server (make dev's own) means an empty table.
rm -f "$log"
DEV_WARM=1 DEV_RELOAD=0 TABLE_NAME="${E2E_TABLE:-agency-sales-e2e}" setsid make --no-print-directory dev >"$log" 2>&1 &
dev=$!
stop() {
  local status=$?
  trap - EXIT INT TERM
  if kill -0 -- "-$dev" 2>/dev/null; then
    say "stopping the stack…"
    # SIGTERM to make dev's whole process group, as a terminal's close or a supervisor sends
    # it: make and the script both get it, and make passes it on to the script a second time,
    # in the middle of its clean-up. The stack must stop whole all the same (it used to stop
    # after "[dev] stopping…" and leave the stand-in, the landing page and cargo lambda watch).
    kill -TERM -- "-$dev" 2>/dev/null || true
    for _ in $(seq 1 1500); do kill -0 -- "-$dev" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$dev" 2>/dev/null || true
    local port open=()
    for port in "${DYNAMODB_PORT:-8000}" "${WATCH_PORT:-9000}" "${WATCH_INTERNAL_PORT:-$(( ${WATCH_PORT:-9000} + 1 ))}" \
      "${STRIPE_STANDIN_PORT:-12111}" "$landing_port"; do
      if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then open+=("$port"); fi
    done
    if [[ ${#open[@]} -gt 0 ]]; then
      echo "[e2e] make dev left ports ${open[*]} in use after SIGTERM" >&2
      status=1
    fi
  fi
  grep -E '^\[dev\] (stopped|function instances|local DynamoDB)' "$log" | sed 's/^/[e2e] /' || true
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting the local stack (make dev; log .local/e2e/dev.log)…"
started=$(date +%s)
deadline=$(( started + ${E2E_TIMEOUT:-2400} ))
until grep -q '^\[dev\] ready: every function is built.' "$log" 2>/dev/null; do
  if ! kill -0 "$dev" 2>/dev/null; then
    tail -40 "$log" >&2
    echo "[e2e] make dev stopped before the stack was ready" >&2
    exit 1
  fi
  if (( $(date +%s) > deadline )); then
    tail -40 "$log" >&2
    echo "[e2e] the stack was not ready within ${E2E_TIMEOUT:-2400} s" >&2
    exit 1
  fi
  sleep 2
done
say "stack ready after $(( $(date +%s) - started )) s"

if [[ ${E2E_SKIP_BROWSER:-0} != 1 ]]; then
  say "browser test (Chromium)…"
  WIDGET_URL="http://127.0.0.1:$landing_port/" \
  EMBED_ORIGIN="http://localhost:$landing_port" \
  API_URL="http://127.0.0.1:${WATCH_PORT:-9000}" \
  CHECKOUT_URL="http://127.0.0.1:${WATCH_PORT:-9000}/billing/create-checkout" \
  STANDIN_URL="http://127.0.0.1:${STRIPE_STANDIN_PORT:-12111}" \
  SCREENSHOTS="$root/target/browser-screenshots" \
    node tests/browser/widget.test.mjs
  say "browser test of the sales board (Chromium)…"
  BOARD_URL="http://127.0.0.1:$landing_port/board/index.html" \
  API_URL="http://127.0.0.1:${WATCH_PORT:-9000}" \
  PYTHON="$root/.venv/bin/python" \
  SCREENSHOTS="$root/target/browser-screenshots" \
    node tests/browser/board.test.mjs
fi

say "end-to-end test over HTTP…"
E2E_API_URL="http://127.0.0.1:${WATCH_PORT:-9000}" \
E2E_FUNCTIONS_URL="http://127.0.0.1:${WATCH_PORT:-9000}/lambda-url" \
E2E_STANDIN_URL="http://127.0.0.1:${STRIPE_STANDIN_PORT:-12111}" \
E2E_GATEWAY_ACCESS_LOG="$root/.local/dev/gateway-access.log" \
  cargo test -p sales-tests --test e2e -- --test-threads=1

if [[ ${E2E_SKIP_BROWSER:-0} != 1 ]]; then
  # Last, as it leaves the table as the browser needs it: a waitlist offer made by the
  # waitlist-offers function and e-mailed through the local SES; the browser follows its link.
  say "a waitlist offer, followed in the browser (Chromium)…"
  E2E_API_URL="http://127.0.0.1:${WATCH_PORT:-9000}" \
  E2E_WATCH_URL="http://127.0.0.1:${WATCH_INTERNAL_PORT:-$(( ${WATCH_PORT:-9000} + 1 ))}" \
  E2E_OFFER_LINK_FILE="$root/target/offer-link.txt" \
    cargo test -p sales-tests --test e2e -- --ignored --exact prepare_an_offer_for_the_browser
  OFFER_LINK_FILE="$root/target/offer-link.txt" \
  API_URL="http://127.0.0.1:${WATCH_PORT:-9000}" \
  STANDIN_URL="http://127.0.0.1:${STRIPE_STANDIN_PORT:-12111}" \
  SCREENSHOTS="$root/target/browser-screenshots" \
    node tests/browser/offer.test.mjs
fi

# The functions' logs of the whole run (their JSON lines in the stack's log): each line names its
# request, function and cold start as top-level fields (request_id, function, cold_start), and no
# e-mail address is unmasked (a masked one reads a***@example.com). infra/local/check_logs.py
# skips what is not a function's JSON line (cargo's and make dev's own output).
say "checking the functions' log lines (request_id, function, cold_start; no unmasked e-mail)…"
python="$root/.venv/bin/python"; [[ -x $python ]] || python=python3
"$python" infra/local/check_logs.py "$log" | sed 's/^/[e2e] /'
say "passed"
