#!/usr/bin/env python3
"""`make dev`'s `[alert]` lines: the team alerts the local functions publish, as they arrive.

The webhooks publish each alert to the template's TeamAlertsTopic (shared/src/lambda/alerts.rs);
the local AWS server keeps what was published and lists it at
`GET /_local/sent?service=sns` (infra/local/aws_rules.py). This polls that list once a second and
prints each new message of the topic as one line, `[alert] Demo booked: ada@example.com …` (the
message's `default`, what an e-mail subscriber reads). Messages already there when it starts
(an earlier run's, or the tests') are not printed. It never stops by itself: a server that does
not answer for a moment is asked again (make dev stops when the server itself stops).

    alerts_tail.py --endpoint http://127.0.0.1:8000 [--topic TeamAlertsTopic] [--interval 1]
"""

import argparse
import json
import sys
import time
import urllib.request


def alert_line(message: str) -> str:
    """The line of a published message: its `default` when it is a JSON message structure."""
    try:
        value = json.loads(message)
    except ValueError:
        return message
    if isinstance(value, dict) and isinstance(value.get("default"), str):
        return value["default"]
    return message


def new_alerts(sent: list, topic: str, seen: set) -> list:
    """The lines of the messages to `topic` (its name, the ARN's last part) not in `seen`, oldest
    first; their ids are added to `seen`."""
    lines = []
    for message in sent:
        if str(message.get("topic", "")).rsplit(":", 1)[-1] != topic:
            continue
        key = message.get("id")
        if key in seen:
            continue
        seen.add(key)
        lines.append(alert_line(str(message.get("message", ""))))
    return lines


def fetch(endpoint: str) -> list:
    with urllib.request.urlopen(f"{endpoint}/_local/sent?service=sns", timeout=5) as answer:
        return json.load(answer).get("sent") or []


class Tail:
    """The topic's messages on the server at `endpoint`, polled: [`Tail.poll`] gives the lines
    that are new since the last poll; the first poll that gets an answer gives none (what was
    there before is not news)."""

    def __init__(self, endpoint: str, topic: str = "TeamAlertsTopic"):
        self.endpoint = endpoint
        self.topic = topic
        self.seen: set = set()
        self.started = False
        self.failing = False

    def poll(self) -> list:
        try:
            sent = fetch(self.endpoint)
        except Exception as e:  # noqa: BLE001 - a moment without the server is not the end
            if not self.failing:
                print(f"[alert] (could not read the sent alerts: {e}; trying again)", file=sys.stderr, flush=True)
            self.failing = True
            return []
        self.failing = False
        fresh = new_alerts(sent, self.topic, self.seen)
        if not self.started:
            self.started = True
            return []
        return fresh


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--topic", default="TeamAlertsTopic")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    tail = Tail(args.endpoint, args.topic)
    while True:
        for line in tail.poll():
            print(f"[alert] {line}", flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
