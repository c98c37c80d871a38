#!/usr/bin/env bash
# `make bench`: release builds of the seven bootstraps and of the harness, the criterion
# micro-benchmarks, then the harness (bench/src/main.rs), which prints one markdown table and
# writes it to bench/RESULTS.md, the one place the figures live (docs/performance.md explains
# them; nothing else is rewritten). Works on a fresh clone: creates .venv (moto) with `make venv`.
#
#   bash bench/run.sh [harness options: --invocations N --cold-starts K --only fn,fn …]
#   BENCH_MICRO=0 bash bench/run.sh …    skips the criterion run (keeps earlier results)
set -euo pipefail

cd "$(dirname "$0")/.."
started=$(date +%s)
export BENCH_STARTED=$started
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"

FUNCTIONS=(founding-spots create-checkout customer-portal stripe-webhook cal-webhook calendly-webhook pipeline)

if [[ ! -f .venv/.installed ]]; then
    make venv
fi

packages=()
for f in "${FUNCTIONS[@]}"; do
    packages+=(-p "$f")
done
# One cargo invocation, so that features unify as in the functions' own release build and the
# harness reuses their compiled dependencies.
echo "[bench] cargo build --release ${packages[*]} -p sales-bench"
cargo build --release "${packages[@]}" -p sales-bench

if [[ "${BENCH_MICRO:-1}" != 0 ]]; then
    # `cargo bench` would build every dependency again under the `bench` profile; the same
    # benchmark built with the release profile reuses them, and criterion runs it with --bench.
    echo "[bench] cargo build --release -p sales-bench --bench hot_paths; hot_paths --bench"
    micro=$(cargo build --release -p sales-bench --bench hot_paths --message-format=json-render-diagnostics |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "hot_paths" and m.get("executable"):
        print(m["executable"])')
    (cd bench && CRITERION_HOME="$target_dir/criterion" "$micro" --bench --noplot)
fi

status=0
"$target_dir/release/sales-bench" --target-dir "$target_dir" "$@" || status=$?

if [[ "$status" == 0 && "${BENCH_MICRO:-1}" != 0 ]]; then
    # What one DynamoDB request costs in the function itself, apart from the harness.
    echo "[bench] cargo run --release -p sales-bench --example sdk_cost"
    sdk=$(cargo run --quiet --release -p sales-bench --example sdk_cost)
    echo "$sdk"
    {
        echo
        echo "## The function's own work, in process (\`bench/examples/sdk_cost.rs\`)"
        echo
        echo "Against a local server that answers at once (\`{}\`: no item, every write accepted) over a kept-alive connection, 3,000 calls one at a time: one GetItem through the AWS SDK against a bare HTTP round trip, then whole handlers from the event JSON to the response, with no Runtime API, proxy or other process in between:"
        echo
        echo '```'
        echo "$sdk"
        echo '```'
    } >> bench/RESULTS.md
fi
if [[ "$status" == 0 && "${BENCH_MICRO:-1}" != 0 ]]; then
    # The local DynamoDB server itself as its table grows: transaction latency and peak memory.
    echo "[bench] .venv/bin/python infra/local/dynamodb_scale.py"
    scale=$(.venv/bin/python infra/local/dynamodb_scale.py)
    echo "$scale"
    {
        echo
        echo "## The local DynamoDB server as its table grows (\`infra/local/dynamodb_scale.py\`)"
        echo
        echo "TransactWriteItems of two parts (one in four cancelled by its condition), timed from a client on the same machine, and the server's peak resident memory, at each table size:"
        echo
        echo '```'
        echo "$scale"
        echo '```'
    } >> bench/RESULTS.md
fi
if [[ "$status" == 0 && "${BENCH_MICRO:-1}" != 0 ]]; then
    # Launch day under DynamoDB's rules (tests/aws/launch.rs): LAUNCH_VISITORS founding
    # checkouts from distinct addresses within one second, conflicts and latency on.
    echo "[bench] launch day: cargo test -p sales-tests --test aws launch (LAUNCH_VISITORS=${LAUNCH_VISITORS:-500})"
    port=${BENCH_LAUNCH_PORT:-8766}
    launch=$(AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$port AWS_REGION=ap-southeast-2 \
        AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test DYNAMODB_PORT=$port \
        LAUNCH_VISITORS=${LAUNCH_VISITORS:-500} infra/local/dynamodb.sh run -- \
        cargo test --quiet -p sales-tests --test aws launch -- --nocapture 2>&1 | grep '^launch:' || true)
    echo "$launch"
    {
        echo
        echo "## Launch day under DynamoDB's rules (\`tests/aws/launch.rs\`)"
        echo
        echo "Founding checkouts through create-checkout's handler, each visitor from its own address, arrivals spread over one second, on an empty table, with the local rules layer's transaction conflicts and latency on (\`infra/local/aws_rules.py\`). Response times include the local server's queue: it serves one request at a time (about 110 a second here), which DynamoDB does not, so they measure this machine, not AWS; the holds, the waitlist, the 5xx count and the conflicts per visitor are the figures that carry over:"
        echo
        echo '```'
        echo "$launch"
        echo '```'
    } >> bench/RESULTS.md
fi
echo "[bench] make bench took $(( $(date +%s) - started )) s"
exit "$status"
