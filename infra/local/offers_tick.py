#!/usr/bin/env python3
"""`make dev`'s stand-in for the waitlist-offers schedule, and its `[mail]` lines.

Deployed, an EventBridge schedule runs waitlist-offers every 5 minutes. Locally this invokes it
through cargo lambda watch's invoke API every `--every` seconds (60), so the next offer goes out
within a minute of a spot coming free, and prints each e-mail the local AWS server's SES sent
(`GET /_local/sent?service=ses`, polled every second) as `[mail] to … | subject | the offer
link`. Mail already there when it starts is not printed. It never stops by itself (make dev stops
it); a watch or server that does not answer for a moment is asked again.

    offers_tick.py --endpoint http://127.0.0.1:8000 --watch http://127.0.0.1:9001 [--every 60]
"""

import argparse
import json
import re
import sys
import time
import urllib.request


def mail_lines(sent: list, seen: set) -> list:
    """One line per message not in `seen` (ids added to it): recipients, subject, offer link."""
    lines = []
    for message in sent:
        key = message.get("id")
        if key in seen:
            continue
        seen.add(key)
        to = ", ".join((message.get("destinations") or {}).get("ToAddresses") or [])
        body = message.get("body") or ""
        link = re.search(r"https?://\S*offer=[\w.-]+", body)
        lines.append(f"[mail] to {to} | {message.get('subject') or ''}"
                     + (f" | {link.group(0)}" if link else ""))
    return lines


def fetch(url: str, data: bytes = None):
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="the local AWS server")
    parser.add_argument("--watch", required=True, help="cargo lambda watch's own address")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between sweeps")
    args = parser.parse_args()
    sent_url = args.endpoint.rstrip("/") + "/_local/sent?service=ses"
    invoke_url = args.watch.rstrip("/") + "/2015-03-31/functions/waitlist-offers/invocations"
    seen = set()
    try:
        seen = {m.get("id") for m in fetch(sent_url).get("sent", [])}
    except (OSError, ValueError):
        pass
    next_sweep = time.monotonic() + args.every
    while True:
        if time.monotonic() >= next_sweep:
            next_sweep = time.monotonic() + args.every
            try:
                report = fetch(invoke_url, b"{}")
                if isinstance(report, dict) and (report.get("offered") or report.get("lapsed") or report.get("taken")):
                    print(f"[offers] sweep: {json.dumps(report)}", flush=True)
            except (OSError, ValueError) as e:
                print(f"[offers] sweep not run ({e}); trying again in {args.every:.0f} s", file=sys.stderr, flush=True)
        try:
            for line in mail_lines(fetch(sent_url).get("sent", []), seen):
                print(line, flush=True)
        except (OSError, ValueError):
            pass
        time.sleep(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
