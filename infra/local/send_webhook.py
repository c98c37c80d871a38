#!/usr/bin/env python3
"""Sends a signed provider webhook to the local functions (`make dev`), as Cal.com, Calendly or
Stripe would.

    send_webhook.py cal BOOKING_CREATED --email ada@example.com
    send_webhook.py cal BOOKING_RESCHEDULED --email ada@example.com     # moves the booking above
    send_webhook.py cal BOOKING_CANCELLED --email ada@example.com       # cancels it
    send_webhook.py cal BOOKING_REQUESTED_RESCHEDULE --email ada@example.com  # asks to move it
    send_webhook.py cal BOOKING_CREATED_CONFIRMED --email ada@example.com     # the host confirms
    send_webhook.py cal BOOKING_REJECTED --email ada@example.com              # ... or rejects
    send_webhook.py calendly invitee.created --email grace@example.com
    send_webhook.py calendly invitee.canceled.rescheduled --email grace@example.com  # + the next one:
    send_webhook.py calendly invitee.created.rescheduled --email grace@example.com   # one reschedule
    send_webhook.py stripe checkout.session.completed --email lin@example.com --plan standard
    send_webhook.py stripe invoice.payment_failed --email lin@example.com  # that customer's invoice
    send_webhook.py cal BOOKING_CREATED --email ada@example.com --same  # the same delivery again

The payload is the provider's example in tests/fixtures/<provider>/ with the e-mail replaced and,
unless --same, fresh ids, uids and times, so each send is a new delivery. Bookings are
remembered per e-mail (in .local/send-webhook.json), so a cancel or reschedule refers to the
booking created before, and Stripe subscription and invoice events use the customer and
subscription of the last checkout sent for that e-mail. --same sends the last body sent for
that provider, event and e-mail again, byte for byte (a duplicate delivery), freshly signed.

Signatures, with the secret from .env.dev (what the functions read):
  cal       X-Cal-Signature-256: hex HMAC-SHA256 of the raw body           (CAL_WEBHOOK_SECRET)
  calendly  Calendly-Webhook-Signature: t=<unix>,v1=<hex HMAC of "{t}.{body}"> (CALENDLY_WEBHOOK_SIGNING_KEY)
  stripe    Stripe-Signature: t=<unix>,v1=<hex HMAC of "{t}.{body}">       (STRIPE_WEBHOOK_SECRET)

Exit status 0 when the function answered 2xx, 1 otherwise.
"""

import argparse
import copy
import datetime as dt
import hashlib
import hmac
import json
import os
import random
import secrets
import string
import sys
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
STATE = os.path.join(ROOT, ".local", "send-webhook.json")
ALPHANUM = string.ascii_letters + string.digits

PROVIDERS = {
    "cal": {"function": "cal-webhook", "secret": "CAL_WEBHOOK_SECRET"},
    "calendly": {"function": "calendly-webhook", "secret": "CALENDLY_WEBHOOK_SIGNING_KEY"},
    "stripe": {"function": "stripe-webhook", "secret": "STRIPE_WEBHOOK_SECRET"},
}

# The ids in the Calendly fixtures: the booking (scheduled event + invitee) and, in the two
# halves of a reschedule, the new one.
CALENDLY_EVENT, CALENDLY_INVITEE = "5f443a67-564e-4e90-a900-b0e92c02ec25", "9cbca8f8-c422-48fb-8fd7-60a8d1bc5c6e"
CALENDLY_NEW_EVENT, CALENDLY_NEW_INVITEE = "8a1c2d3e-4f50-4a6b-9c7d-8e9f0a1b2c3d", "1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b"
CALENDLY_SCHEDULED = "https://api.calendly.com/scheduled_events/"

# Stripe ids that are products and prices (kept), as opposed to objects each send makes anew.
STRIPE_KEEP = ("price_", "prod_")
STRIPE_FRESH = ("evt_", "cs_test_", "cs_live_", "in_", "il_", "ii_", "si_", "pm_", "pi_", "ch_", "sub_", "cus_")


def die(message):
    print(f"send-webhook: {message}", file=sys.stderr)
    sys.exit(2)


def token(n):
    return "".join(secrets.choice(ALPHANUM) for _ in range(n))


def read_env_file(path):
    values = {}
    if not os.path.exists(path):
        return values
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip().removeprefix("export ").strip()] = value
    return values


def load_state():
    try:
        with open(STATE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def save_state(state):
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    with open(STATE + ".tmp", "w") as f:
        json.dump(state, f, indent=1)
    os.replace(STATE + ".tmp", STATE)


def parse_time(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso_ms(moment):  # Cal.com: 2026-02-10T14:00:00.000Z
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_us(moment):  # Calendly: 2026-02-10T14:00:00.000000Z
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_start(now):
    """Two days from now, on the hour."""
    return (now + dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def fixture(provider, event):
    name = f"evt_{event}.json" if provider == "stripe" else f"{event}.json"
    path = os.path.join(FIXTURES, provider, name)
    if not os.path.exists(path):
        found = sorted(
            f.removeprefix("evt_").removesuffix(".json")
            for f in os.listdir(os.path.join(FIXTURES, provider))
            if f.endswith(".json") and not f.endswith(".body.json") and "signature" not in f
        )
        die(f"no {provider} fixture for {event!r}; events: {', '.join(found)}")
    with open(path) as f:
        return json.load(f)


def replace_text(payload, mapping):
    """Replaces every occurrence of each key (ids, e-mails) in the serialised payload."""
    text = json.dumps(payload, ensure_ascii=False)
    for old, new in mapping.items():
        if old and new and old != new:
            text = text.replace(old, new)
    return json.loads(text)


def set_path(payload, dotted, raw):
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    node = payload
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value


# --- Cal.com -----------------------------------------------------------------------------


def cal(event, args, state, now):
    payload = fixture("cal", event)
    p = payload["payload"]
    book = state.setdefault("cal", {})
    fixture_email = p["attendees"][0]["email"]
    length = parse_time(p["endTime"]) - parse_time(p["startTime"])
    booking = book.get(args.email)
    notes = []

    def fresh(start):
        return {"uid": args.uid or token(22), "bookingId": random.randint(10_000, 9_999_999), "start": iso_ms(start)}

    if event in ("BOOKING_CANCELLED", "BOOKING_RESCHEDULED", "BOOKING_REQUESTED_RESCHEDULE") and not booking and not args.uid:
        notes.append(f"no booking sent for {args.email} before: made one up that the function has never seen")
    if event == "BOOKING_CANCELLED":
        target = booking or fresh(default_start(now))
        if args.uid:
            target = dict(target, uid=args.uid)
        if "cancelledBy" in p:
            p["cancelledBy"] = args.email
    elif event == "BOOKING_RESCHEDULED":
        old = booking or fresh(default_start(now))
        start = args.start or parse_time(old["start"]) + dt.timedelta(days=1)
        target = {"uid": args.uid or token(22), "bookingId": random.randint(10_000, 9_999_999), "start": iso_ms(start)}
        old_start = parse_time(old["start"])
        p.update(
            rescheduleUid=old["uid"],
            rescheduleId=old["bookingId"],
            rescheduleStartTime=iso_ms(old_start),
            rescheduleEndTime=iso_ms(old_start + length),
            rescheduledBy=args.email,
        )
        notes.append(f"moves booking {old['uid']} to {target['start']}")
    elif event == "BOOKING_REQUESTED_RESCHEDULE":
        # An event type that requires confirmation: the new booking is PENDING, the old one named.
        old = booking or fresh(default_start(now))
        start = args.start or parse_time(old["start"]) + dt.timedelta(days=1)
        target = fresh(start)
        target.update(requested=True, ical=old.get("ical", f"{old['uid']}@Cal.com"))
        old_start = parse_time(old["start"])
        p.update(
            rescheduleUid=old["uid"],
            rescheduleId=old["bookingId"],
            rescheduleStartTime=iso_ms(old_start),
            rescheduleEndTime=iso_ms(old_start + length),
            rescheduledBy=args.email,
        )
        notes.append(f"asks to move booking {old['uid']} to {target['start']} (awaiting the host's confirmation)")
    elif event in ("BOOKING_CREATED_CONFIRMED", "BOOKING_REJECTED"):
        # The host's answer to the requested reschedule sent before for this e-mail.
        if booking and booking.get("requested"):
            target = booking
        else:
            notes.append(f"no BOOKING_REQUESTED_RESCHEDULE sent for {args.email} before: made one up")
            target = fresh(args.start or default_start(now))
        if args.uid:
            target = dict(target, uid=args.uid)
    else:  # BOOKING_CREATED, BOOKING_REQUESTED, anything else: a new booking
        target = fresh(args.start or default_start(now))
    fixture_uid = p["uid"]
    start = parse_time(target["start"])
    p.update(uid=target["uid"], bookingId=target["bookingId"], startTime=iso_ms(start), endTime=iso_ms(start + length))
    if event != "BOOKING_RESCHEDULED":
        p["iCalUID"] = target.get("ical", f"{target['uid']}@Cal.com")
    payload["createdAt"] = iso_ms(now)
    payload = replace_text(payload, {fixture_email: args.email, f"/video/{fixture_uid}": f"/video/{target['uid']}"})
    if args.name:
        payload = replace_text(payload, {"Ada Lovelace": args.name})
        first, _, last = args.name.partition(" ")
        for attendee in payload["payload"]["attendees"]:
            if attendee.get("email") == args.email:
                attendee.update(firstName=first, lastName=last)

    def remember():
        if event in ("BOOKING_CREATED", "BOOKING_REQUESTED", "BOOKING_RESCHEDULED", "BOOKING_REQUESTED_RESCHEDULE"):
            book[args.email] = target
        elif event == "BOOKING_CREATED_CONFIRMED":
            book[args.email] = dict(target, requested=False)
        elif event in ("BOOKING_CANCELLED", "BOOKING_REJECTED"):
            book[args.email] = dict(target, cancelled=True)

    return payload, compact(payload), notes + [f"booking uid {target['uid']}, starts {target['start']}"], remember


# --- Calendly ----------------------------------------------------------------------------


def calendly(event, args, state, now):
    payload = fixture("calendly", event)
    p = payload["payload"]
    book = state.setdefault("calendly", {})
    pending = state.setdefault("calendly_reschedule", {})
    fixture_email = p["email"]
    se = p["scheduled_event"]
    length = parse_time(se["end_time"]) - parse_time(se["start_time"])
    booking = book.get(args.email)
    notes = []

    def fresh(start):
        return {"event": str(uuid.uuid4()), "invitee": str(uuid.uuid4()), "start": iso_us(start), "created": iso_us(now)}

    if event.startswith("invitee.canceled") or event == "invitee.created.rescheduled":
        if not booking:
            notes.append(f"no booking sent for {args.email} before: made one up that the function has never seen")
            booking = fresh(default_start(now))
    current, new = booking, None
    if event.endswith(".rescheduled"):
        # Both halves of one reschedule name the same new booking, whichever is sent first.
        pair = pending.get(args.email)
        if not pair or pair["old"]["invitee"] != booking["invitee"]:
            start = args.start or parse_time(booking["start"]) + dt.timedelta(days=1)
            pair = {"old": booking, "new": fresh(start), "sent": []}
        new = pair["new"]
        notes.append(f"reschedule of invitee {booking['invitee']} to {new['invitee']} at {new['start']}")
    elif event == "invitee.created":
        current = fresh(args.start or default_start(now))
    shown = new if event == "invitee.created.rescheduled" else current
    start = parse_time(shown["start"])
    se.update(start_time=iso_us(start), end_time=iso_us(start + length), updated_at=iso_us(now))
    if event == "invitee.created" or event == "invitee.created.rescheduled":
        se["created_at"] = iso_us(now)
        p["created_at"] = iso_us(now)
    else:
        p["created_at"] = current.get("created", iso_us(now))
    p["updated_at"] = iso_us(now)
    payload["created_at"] = iso_us(now.replace(microsecond=0))
    mapping = {
        fixture_email: args.email,
        CALENDLY_EVENT: current["event"],
        CALENDLY_INVITEE: current["invitee"],
    }
    if new:
        mapping.update({CALENDLY_NEW_EVENT: new["event"], CALENDLY_NEW_INVITEE: new["invitee"]})
    payload = replace_text(payload, mapping)
    if args.name:
        payload = replace_text(payload, {"Ada Lovelace": args.name})

    def remember():
        if event == "invitee.created":
            book[args.email] = current
        elif event == "invitee.canceled":
            book[args.email] = dict(current, cancelled=True)
        else:
            pair_sent = set(pair["sent"]) | {event}
            if pair_sent >= {"invitee.canceled.rescheduled", "invitee.created.rescheduled"}:
                book[args.email] = new
                pending.pop(args.email, None)
            else:
                pending[args.email] = dict(pair, sent=sorted(pair_sent))

    invitee = (new if event == "invitee.created.rescheduled" else current)["invitee"]
    return payload, compact(payload), notes + [f"invitee {invitee}, starts {shown['start']}"], remember


# --- Stripe ------------------------------------------------------------------------------


def stripe_ids(node, found):
    if isinstance(node, dict):
        for value in node.values():
            stripe_ids(value, found)
    elif isinstance(node, list):
        for value in node:
            stripe_ids(value, found)
    elif isinstance(node, str) and node.startswith(STRIPE_FRESH) and not node.startswith(STRIPE_KEEP) and " " not in node:
        found.add(node)


TIME_KEYS = ("created", "date", "start", "end", "_at", "anchor", "period_start", "period_end")


def shift_times(node, delta):
    """Moves every Unix timestamp in the payload by delta seconds (keeps their order)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, int) and not isinstance(value, bool) and 1_500_000_000 < value < 2_500_000_000 and (
                key.endswith(TIME_KEYS) or key in ("created", "paid_at")
            ):
                node[key] = value + delta
            else:
                shift_times(value, delta)
    elif isinstance(node, list):
        for value in node:
            shift_times(value, delta)


def stripe(event, args, state, now):
    payload = fixture("stripe", event)
    customers = state.setdefault("stripe", {})
    obj = payload["data"]["object"]
    known = customers.get(args.email, {})
    notes = []
    found = set()
    stripe_ids(payload, found)
    mapping = {}
    for old in sorted(found):
        prefix = old.split("_")[0] + "_"
        if old.startswith("cs_test_"):
            mapping[old] = "cs_test_" + token(58)
        elif prefix == "cus_":
            mapping[old] = args.customer or known.get("customer") or "cus_" + token(14)
        elif prefix == "sub_":
            mapping[old] = args.subscription or known.get("subscription") or "sub_" + token(24)
        else:
            mapping[old] = prefix + token(24)
    emails = {v for v in (obj.get("customer_email"), (obj.get("customer_details") or {}).get("email")) if v}
    for email in emails:
        mapping[email] = args.email
    shift_times(payload, int(now.timestamp()) - payload["created"])
    if obj.get("object") in ("checkout.session", "subscription"):
        metadata = {"plan_type": args.plan}
        for item in args.metadata or []:
            key, _, value = item.partition("=")
            metadata[key] = value
        obj["metadata"] = metadata
        if obj.get("object") == "checkout.session":
            obj["client_reference_id"] = args.client_reference_id
            if args.plan == "founding" and not {"founding_spot", "founding_hold"} <= metadata.keys():
                notes.append("a founding checkout without --metadata founding_spot=N --metadata founding_hold=hold_… "
                             "is refused (400); a checkout made through create-checkout and paid on the stand-in's "
                             "page carries both")
    payload = replace_text(payload, mapping)
    obj = payload["data"]["object"]

    def remember():
        if event == "checkout.session.completed":
            customers[args.email] = {"customer": obj.get("customer"), "subscription": obj.get("subscription")}

    ids = {k: obj.get(k) for k in ("id", "customer", "subscription") if isinstance(obj.get(k), str)}
    return payload, (json.dumps(payload, indent=2, ensure_ascii=False) + "\n").encode(), \
        notes + [f"event {payload['id']}; " + ", ".join(f"{k} {v}" for k, v in ids.items())], remember


def compact(payload):
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(provider, body, secret, timestamp):
    if provider == "cal":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Cal-Signature-256": digest, "X-Cal-Webhook-Version": "2021-10-20",
                "Content-Type": "application/json"}
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if provider == "calendly":
        return {"Calendly-Webhook-Signature": f"t={timestamp},v1={digest}",
                "Content-Type": "application/json; charset=utf-8", "User-Agent": "Calendly"}
    return {"Stripe-Signature": f"t={timestamp},v1={digest}", "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("provider", choices=sorted(PROVIDERS))
    parser.add_argument("event", help="BOOKING_CREATED, invitee.created, checkout.session.completed, … "
                                      "(a fixture name in tests/fixtures/<provider>/)")
    parser.add_argument("--email", default="ada@example.com", help="the person's e-mail (default ada@example.com)")
    parser.add_argument("--name", help="the person's name (default: from the e-mail, grace.hopper@… → Grace Hopper)")
    parser.add_argument("--same", action="store_true", help="send the last body for this provider/event/e-mail again")
    parser.add_argument("--start", type=lambda s: parse_time(s) if "T" in s else parse_time(s + "T10:00:00Z"),
                        help="booking start, ISO 8601 (default: two days from now; a reschedule: a day later)")
    parser.add_argument("--uid", help="Cal.com: the booking uid to use")
    parser.add_argument("--plan", default="standard", choices=("standard", "founding"),
                        help="Stripe: metadata.plan_type (default standard)")
    parser.add_argument("--metadata", action="append", metavar="KEY=VALUE", help="Stripe: more session metadata")
    parser.add_argument("--client-reference-id", help="Stripe: the session's client_reference_id")
    parser.add_argument("--customer", help="Stripe: the cus_ id (default: the last checkout's for this e-mail)")
    parser.add_argument("--subscription", help="Stripe: the sub_ id (default: the last checkout's for this e-mail)")
    parser.add_argument("--set", action="append", metavar="PATH=JSON", default=[],
                        help="set a field of the payload, e.g. payload.status=\"PENDING\" (after the rest)")
    parser.add_argument("--url", help="where to post (default: the local function URL)")
    parser.add_argument("--base", default=os.environ.get("DEV_BASE_URL", "http://127.0.0.1:9000"),
                        help="cargo lambda watch's address (default http://127.0.0.1:9000)")
    parser.add_argument("--env-file", default=os.path.join(ROOT, ".env.dev"), help="where the secrets are")
    parser.add_argument("--secret", help="sign with this secret instead of the one in the env file")
    parser.add_argument("--unsigned", action="store_true", help="send without a signature (expect a 4xx)")
    parser.add_argument("--stale", action="store_true", help="sign with a timestamp 10 minutes old (expect a 4xx)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be sent, send nothing")
    parser.add_argument("--timeout", type=float, default=600, help="seconds (the first request builds the function)")
    args = parser.parse_args()
    args.email = args.email.strip()
    if args.name is None and args.email != "ada@example.com":
        local = args.email.split("@")[0]
        args.name = " ".join(part.capitalize() for part in local.replace("_", ".").replace("-", ".").split(".") if part)

    provider = PROVIDERS[args.provider]
    url = args.url or f"{args.base.rstrip('/')}/lambda-url/{provider['function']}/"
    secret = args.secret or read_env_file(args.env_file).get(provider["secret"]) or os.environ.get(provider["secret"])
    if not secret and not args.unsigned:
        die(f"no {provider['secret']} in {args.env_file} (run `make dev` once, or pass --secret)")

    state = load_state()
    now = dt.datetime.now(dt.timezone.utc)
    last_key = f"{args.provider}|{args.event}|{args.email}"
    remember = None
    if args.same:
        last = state.get("last", {}).get(last_key)
        if not last:
            die(f"nothing sent yet for {args.provider} {args.event} {args.email}; send it once without --same")
        body = last.encode()
        notes = ["the same body as last time (a duplicate delivery)"]
    else:
        build = {"cal": cal, "calendly": calendly, "stripe": stripe}[args.provider]
        payload, body, notes, remember = build(args.event, args, state, now)
        if args.set:
            for assignment in args.set:
                path, _, raw = assignment.partition("=")
                set_path(payload, path, raw)
            body = (json.dumps(payload, indent=2, ensure_ascii=False) + "\n").encode() if args.provider == "stripe" \
                else compact(payload)

    timestamp = int(time.time()) - (600 if args.stale else 0)
    headers = signed_headers(args.provider, body, secret or "", timestamp)
    if args.unsigned:
        headers = {k: v for k, v in headers.items() if "ignature" not in k}

    print(f"POST {url}")
    print(f"  {args.provider} {args.event} for {args.email}")
    for note in notes:
        print(f"  {note}")
    for key, value in headers.items():
        print(f"  {key}: {value}")
    if args.dry_run:
        print(body.decode())
        return 0

    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    started = time.time()
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            status, reason, answer = response.status, response.reason, response.read()
    except urllib.error.HTTPError as err:
        status, reason, answer = err.code, err.reason, err.read()
    except (urllib.error.URLError, OSError) as err:
        print(f"-> could not reach {url}: {getattr(err, 'reason', err)} (is `make dev` running?)")
        return 1
    print(f"-> {status} {reason} ({time.time() - started:.2f} s)")
    text = answer.decode(errors="replace")
    print(text if text.endswith("\n") or not text else text + "\n", end="")

    if not args.same and not args.unsigned and not args.stale:
        if remember and 200 <= status < 300:
            remember()
        state.setdefault("last", {})[last_key] = body.decode()
        save_state(state)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
