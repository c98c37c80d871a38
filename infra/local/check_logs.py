#!/usr/bin/env python3
"""Checks the functions' JSON log lines in a `make dev` log (make e2e's .local/e2e/dev.log):
every line of theirs names its request, its function and whether it is a cold start, as
top-level fields (`request_id`, `function`, `cold_start`; shared/src/lambda/telemetry.rs), and
holds no unmasked e-mail address.

The log mixes the functions' output with cargo's, make dev's and the servers' lines (cargo lambda
watch may indent a function's line or print it after a build note), so a line counts as the
functions' when, from its first `{`, it holds a JSON object with a `level` (a log line) or an
`_aws` (an Embedded Metric Format line) key; anything else is not theirs and is skipped.

    check_logs.py .local/e2e/dev.log      exit 1 and a list of the lines at fault, if any

Python standard library only.
"""

import json
import re
import sys

REQUIRED = {"request_id": str, "function": str, "cold_start": bool}
# An address whose local part is not masked (a masked one reads a***@example.com).
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
DECODER = json.JSONDecoder()


def function_object(line):
    """The functions' JSON object in this line, or None."""
    start = line.find("{")
    if start < 0:
        return None
    try:
        value, _ = DECODER.raw_decode(line, start)
    except ValueError:
        return None
    if isinstance(value, dict) and ("level" in value or "_aws" in value):
        return value
    return None


def unmasked(text):
    return [m for m in EMAIL.findall(text) if "***" not in m.split("@")[0].split("%40")[0]]


def check(lines):
    """(how many function lines were checked, [(line number, problem, line)])."""
    checked, problems = 0, []
    for number, line in enumerate(lines, 1):
        value = function_object(line)
        if value is None:
            continue
        checked += 1
        for name, kind in REQUIRED.items():
            if not isinstance(value.get(name), kind):
                problems.append((number, f"no {name} ({kind.__name__})", line.rstrip()))
        for address in unmasked(json.dumps(value)):
            problems.append((number, f"unmasked address {address}", line.rstrip()))
    return checked, problems


def main(argv):
    if len(argv) != 2:
        sys.exit(f"usage: {argv[0]} <make dev's log>")
    with open(argv[1], encoding="utf-8", errors="replace") as f:
        checked, problems = check(f)
    if checked == 0:
        print(f"[logs] no function log line in {argv[1]}", file=sys.stderr)
        return 1
    if problems:
        print(f"[logs] {len(problems)} problems in {checked} function log lines of {argv[1]}:", file=sys.stderr)
        for number, problem, line in problems[:20]:
            print(f"  line {number}: {problem}: {line[:300]}", file=sys.stderr)
        return 1
    print(f"[logs] {checked} function log lines: each has request_id, function and cold_start; no unmasked address")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
