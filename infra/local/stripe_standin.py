#!/usr/bin/env python3
"""A local stand-in for the parts of Stripe that the sales functions use.

No Stripe emulator that installs here supports Checkout Sessions or the billing portal, so
`make dev` runs this one (Python standard library only) on 127.0.0.1:12111 and points
`STRIPE_API_BASE` at it.

Stripe's API (form-encoded requests, bracket notation, `Authorization: Bearer <key>`):

    POST /v1/checkout/sessions                 create (the parameters the Rust client sends)
    GET  /v1/checkout/sessions                 list (newest first)
    GET  /v1/checkout/sessions/{id}            retrieve
    POST /v1/checkout/sessions/{id}/expire     expire an open session (sends the webhook)
    POST /v1/billing_portal/sessions           create a portal session for a known customer

Parameters are checked as Stripe documents them: an unknown parameter is a 400
`parameter_unknown`, a missing required one a 400 `parameter_missing`, both with `param`.
`Idempotency-Key` works like Stripe's: the same key with the same parameters replays the first
response (`Idempotent-Replayed: true`), with other parameters it is an `idempotency_error`;
validation errors are not stored.

The hosted pages that stand in for Checkout and the portal:

    GET  /checkout/{id}             the plan and e-mail, with "Pay" and "Let it expire"
    POST /checkout/{id}/pay         completes the session: new cus_/sub_ ids, payment_status paid,
                                    and a signed `checkout.session.completed` to the webhook URL
    POST /checkout/{id}/expire      expires it: a signed `checkout.session.expired`
    POST /checkout/{id}/resend      sends the session's last event again (same event id)
    POST /checkout/{id}/pay?deliver=0 (form field) pays without sending the webhook: an outage
                                    that `salesctl reconcile` repairs from
    GET  /v1/events                 the events, as Stripe lists them (newest first, created[…],
                                    types[], limit, starting_after, has_more)
    GET  /portal/{id}               the billing portal (a link back to return_url)

The three POSTs answer JSON (`{"session", "event", "webhook": {"status", "body"}, "redirect"}`);
from the page's buttons (form field `browser=1`) they redirect to success_url / cancel_url, or
show the webhook's answer when it was not a 2xx. An open session whose `expires_at` passes is
expired by itself, with its webhook, as Stripe does.

Webhooks are signed as Stripe signs them: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
"{t}.{body}" keyed with the whole whsec_ secret>` (STRIPE_WEBHOOK_SECRET).

It also stands in for Cloudflare Turnstile's server-side validation, for create-checkout's
optional human check (TURNSTILE_VERIFY_URL, `DEV_TURNSTILE=1 make dev`):

    POST /turnstile/v0/siteverify   form or JSON: secret, response (the token), remoteip,
                                    idempotency_key; answers {"success", "error-codes", …}

With Cloudflare's documented test secret keys: 1x0000000000000000000000000000000AA always passes,
2x0000000000000000000000000000000AA always fails (invalid-input-response),
3x0000000000000000000000000000000AA always answers timeout-or-duplicate ("token already spent").
Any other secret must be the configured one (TURNSTILE_SECRET_KEY of the env file, or
--turnstile-secret; none configured: any) or it is invalid-input-secret; then each well-formed token
(at most 2048 printable characters) passes once and is timeout-or-duplicate after that, and the
test sitekeys' dummy token XXXX.DUMMY.TOKEN.XXXX is refused, as Cloudflare's real keys refuse it.
The same idempotency_key with the same token replays the first answer.
"""

import argparse
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import string
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

API_VERSION = "2026-07-29.dahlia"
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:9000/lambda-url/stripe-webhook/"
# Checkout Sessions live 30 minutes to 24 hours (`expires_at`); 24 hours by default.
EXPIRES_MIN, EXPIRES_MAX, EXPIRES_DEFAULT = 1800, 86_400, 86_400
ALPHANUM = string.ascii_letters + string.digits
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

LINE_ITEM = re.compile(r"^line_items\[(\d+)\]\[(price|quantity)\]$")
METADATA = re.compile(r"^metadata\[([^\[\]]+)\]$")
SUBSCRIPTION_METADATA = re.compile(r"^subscription_data\[metadata\]\[([^\[\]]+)\]$")
CHECKOUT_SCALARS = {
    "mode",
    "customer",
    "customer_email",
    "client_reference_id",
    "success_url",
    "cancel_url",
    "allow_promotion_codes",
    "expires_at",
}
PORTAL_SCALARS = {"customer", "return_url", "configuration", "locale", "on_behalf_of"}

# Cloudflare Turnstile's test secret keys (developers.cloudflare.com/turnstile/troubleshooting/testing/)
TURNSTILE_PASS = "1x0000000000000000000000000000000AA"
TURNSTILE_FAIL = "2x0000000000000000000000000000000AA"
TURNSTILE_SPENT = "3x0000000000000000000000000000000AA"
TURNSTILE_DUMMY_TOKEN = "XXXX.DUMMY.TOKEN.XXXX"
TURNSTILE_MAX_TOKEN = 2048
TURNSTILE_TOKEN = re.compile(r"^[\x21-\x7e]{1,%d}$" % TURNSTILE_MAX_TOKEN)


def new_id(prefix, length=24):
    return prefix + "".join(secrets.choice(ALPHANUM) for _ in range(length))


def log(message):
    print(f"[stripe-standin] {message}", file=sys.stderr, flush=True)


class StripeError(Exception):
    """An error answered in Stripe's shape."""

    def __init__(self, status, message, kind="invalid_request_error", code=None, param=None):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": kind, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


def unknown(param):
    return StripeError(400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param)


def missing(param):
    return StripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def nonempty(params, key):
    """Stripe reads an empty string as 'unset', which a required or scalar value cannot be."""
    value = params.get(key)
    if value == "":
        raise StripeError(
            400,
            f"You passed an empty string for '{key}'. We assume empty values are an attempt to "
            f"unset a parameter; however '{key}' cannot be unset. You should remove '{key}' from "
            "your request or supply a non-empty value.",
            code="parameter_invalid_empty",
            param=key,
        )
    return value


def check_url(params, key):
    value = nonempty(params, key)
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise StripeError(400, "Not a valid URL", code="url_invalid", param=key)
    return value


def check_metadata(entries, prefix):
    if len(entries) > 50:
        raise StripeError(400, "You can specify up to 50 metadata keys.", param=prefix)
    for key, value in entries.items():
        if len(key) > 40:
            raise StripeError(400, "Metadata keys can have up to 40 characters.", param=f"{prefix}[{key}]")
        if len(value) > 500:
            raise StripeError(400, "Metadata values can have up to 500 characters.", param=f"{prefix}[{key}]")
    return {k: v for k, v in entries.items() if v != ""}


class Turnstile:
    """Turnstile's Siteverify with Cloudflare's test secret keys; other secrets redeem each token once."""

    def __init__(self, secret=None):
        self.secret = secret
        self.lock = threading.Lock()
        self.redeemed = set()
        self.idempotency = {}

    @staticmethod
    def failure(*codes):
        return {"success": False, "error-codes": list(codes), "messages": []}

    def judge(self, secret, token):
        if secret == TURNSTILE_PASS:
            return None
        if secret == TURNSTILE_FAIL:
            return "invalid-input-response"
        if secret == TURNSTILE_SPENT:
            return "timeout-or-duplicate"
        if self.secret and not hmac.compare_digest(secret, self.secret):
            return "invalid-input-secret"
        if not TURNSTILE_TOKEN.match(token) or token == TURNSTILE_DUMMY_TOKEN:
            return "invalid-input-response"
        if token in self.redeemed:
            return "timeout-or-duplicate"
        self.redeemed.add(token)
        return None

    def siteverify(self, params, hostname="127.0.0.1"):
        secret = str(params.get("secret") or "")
        token = str(params.get("response") or "")
        missing = [code for code, value in (("missing-input-secret", secret), ("missing-input-response", token))
                   if not value]
        if missing:
            return self.failure(*missing)
        key = str(params.get("idempotency_key") or "")
        with self.lock:
            if key and key in self.idempotency:
                first_token, answer = self.idempotency[key]
                return answer if first_token == token else self.failure("bad-request")
            code = self.judge(secret, token)
            if code:
                answer = self.failure(code)
            else:
                answer = {
                    "success": True,
                    "challenge_ts": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "hostname": hostname,
                    "error-codes": [],
                    "action": "",
                    "cdata": "",
                    "metadata": {"interactive": False},
                }
            if key:
                self.idempotency[key] = (token, answer)
        return answer


class Stripe:
    """The stand-in's state and rules. Every mutation happens under one lock."""

    def __init__(self, args):
        self.args = args
        self.public = args.public_url.rstrip("/")
        self.lock = threading.Lock()
        self.prices = {}
        for spec in args.price or []:
            price, _, amount = spec.partition("=")
            self.prices[price] = int(amount) if amount else None
        self.db = {"checkout_sessions": {}, "portal_sessions": {}, "customers": {}, "idempotency": {}, "extra": {}}
        if args.state and os.path.exists(args.state):
            try:
                with open(args.state) as f:
                    self.db.update(json.load(f))
                log(f"state loaded from {args.state}: {len(self.db['checkout_sessions'])} checkout sessions")
            except (OSError, ValueError) as err:
                log(f"state file {args.state} ignored: {err}")

    def save(self):
        if not self.args.state:
            return
        tmp = self.args.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.db, f)
        os.replace(tmp, self.args.state)

    # --- API ----------------------------------------------------------------------------

    def authenticate(self, header):
        if not header:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "basic":
            import base64

            try:
                credential = base64.b64decode(credential).decode().split(":", 1)[0]
            except ValueError:
                credential = ""
        elif scheme.lower() != "bearer":
            raise StripeError(401, "Invalid authorization header; use Bearer auth.")
        credential = credential.strip()
        expected = self.args.api_key
        if not credential or (expected and not hmac.compare_digest(credential, expected)) or (
            not expected and not re.match(r"^(sk|rk)_test_", credential)
        ):
            shown = credential[:8] + "*" * 4 + credential[-4:] if len(credential) > 12 else "****"
            raise StripeError(401, f"Invalid API Key provided: {shown}")

    def idempotent(self, key, method, path, params, create):
        """Runs `create` once per idempotency key (the caller holds the lock)."""
        if key is None:
            return create(), False
        if len(key) > 255:
            raise StripeError(400, "Idempotency keys can be at most 255 characters long.", param="Idempotency-Key")
        fingerprint = hashlib.sha256(json.dumps([method, path, sorted(params.items())]).encode()).hexdigest()
        stored = self.db["idempotency"].get(key)
        if stored:
            if stored["fingerprint"] != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with. Try using a key other than '{key}' if you meant to "
                    "execute a different request.",
                    kind="idempotency_error",
                )
            return (stored["status"], stored["body"]), True
        result = create()  # a StripeError (validation) is not stored, as at Stripe
        self.db["idempotency"][key] = {"fingerprint": fingerprint, "status": result[0], "body": result[1]}
        return result, False

    def create_checkout_session(self, params):
        now = int(time.time())
        items, metadata, sub_metadata = {}, {}, {}
        for key, value in params.items():
            if key in CHECKOUT_SCALARS:
                continue
            if m := LINE_ITEM.match(key):
                items.setdefault(int(m.group(1)), {})[m.group(2)] = value
            elif m := METADATA.match(key):
                metadata[m.group(1)] = value
            elif m := SUBSCRIPTION_METADATA.match(key):
                sub_metadata[m.group(1)] = value
            else:
                raise unknown(key)
        mode = nonempty(params, "mode")
        if mode is None:
            raise missing("mode")
        if mode not in ("payment", "setup", "subscription"):
            raise StripeError(400, "Invalid mode: must be one of payment, setup, or subscription", param="mode")
        if mode != "setup" and not items:
            raise missing("line_items[0][price]")
        if sub_metadata and mode != "subscription":
            raise StripeError(
                400, "You can not pass `subscription_data` in `payment` or `setup` mode.", param="subscription_data"
            )
        line_items = []
        for index in sorted(items):
            item = items[index]
            for field in ("price", "quantity"):
                if not item.get(field):
                    raise missing(f"line_items[{index}][{field}]")
            price = item["price"]
            if self.prices and price not in self.prices:
                raise StripeError(
                    400, f"No such price: '{price}'", code="resource_missing", param=f"line_items[{index}][price]"
                )
            try:
                quantity = int(item["quantity"])
            except ValueError:
                raise StripeError(
                    400, f"Invalid integer: {item['quantity']}", code="parameter_invalid_integer",
                    param=f"line_items[{index}][quantity]",
                ) from None
            if quantity < 1:
                raise StripeError(
                    400, "This value must be greater than or equal to 1.", param=f"line_items[{index}][quantity]"
                )
            line_items.append({"price": price, "quantity": quantity})
        success_url = check_url(params, "success_url")
        if success_url is None:
            raise missing("success_url")
        cancel_url = check_url(params, "cancel_url")
        customer = nonempty(params, "customer")
        customer_email = nonempty(params, "customer_email")
        if customer and customer_email:
            raise StripeError(
                400, "You may only specify one of these parameters: customer, customer_email.",
                code="parameters_exclusive", param="customer_email",
            )
        if customer and customer not in self.db["customers"]:
            raise StripeError(400, f"No such customer: '{customer}'", code="resource_missing", param="customer")
        if customer_email and not EMAIL.match(customer_email):
            raise StripeError(400, f"Invalid email address: {customer_email}", code="email_invalid", param="customer_email")
        client_reference_id = nonempty(params, "client_reference_id")
        if client_reference_id and len(client_reference_id) > 200:
            raise StripeError(400, "client_reference_id can be at most 200 characters.", param="client_reference_id")
        promotion = nonempty(params, "allow_promotion_codes")
        if promotion is not None and promotion not in ("true", "false"):
            raise StripeError(400, f"Invalid boolean: {promotion}", param="allow_promotion_codes")
        expires_at = nonempty(params, "expires_at")
        if expires_at is None:
            expires_at = now + EXPIRES_DEFAULT
        else:
            try:
                expires_at = int(expires_at)
            except ValueError:
                raise StripeError(
                    400, f"Invalid integer: {expires_at}", code="parameter_invalid_integer", param="expires_at"
                ) from None
            if not EXPIRES_MIN <= expires_at - now <= EXPIRES_MAX:
                raise StripeError(
                    400,
                    "The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                    "Checkout Session creation.",
                    param="expires_at",
                )
        metadata = check_metadata(metadata, "metadata")
        sub_metadata = check_metadata(sub_metadata, "subscription_data[metadata]")

        session_id = new_id("cs_test_", 58)
        amounts = [self.prices.get(i["price"]) for i in line_items]
        amount = sum(a * i["quantity"] for a, i in zip(amounts, line_items)) if amounts and None not in amounts else None
        session = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": None if promotion is None else promotion == "true",
            "amount_subtotal": amount,
            "amount_total": amount,
            "automatic_tax": {"enabled": False, "liability": None, "status": None, "provider": None},
            "billing_address_collection": None,
            "cancel_url": cancel_url,
            "client_reference_id": client_reference_id,
            "consent": None,
            "created": now,
            "currency": self.args.currency if mode != "setup" else None,
            "custom_fields": [],
            "customer": customer,
            "customer_creation": "always" if mode == "payment" and not customer else None,
            "customer_details": None,
            "customer_email": customer_email,
            "expires_at": expires_at,
            "invoice": None,
            "livemode": False,
            "locale": None,
            "metadata": metadata,
            "mode": mode,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "always",
            "payment_method_types": ["card"],
            "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
            "recovered_from": None,
            "setup_intent": None,
            "status": "open",
            "subscription": None,
            "success_url": success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted_page",
            "url": f"{self.public}/checkout/{session_id}",
        }
        self.db["checkout_sessions"][session_id] = session
        self.db["extra"][session_id] = {
            "line_items": line_items,
            "subscription_metadata": sub_metadata,
            "events": [],
            "deliveries": [],
        }
        log(f"created {session_id} ({mode}, {customer_email or customer}, metadata {json.dumps(metadata)})")
        return 200, session

    def retrieve_checkout_session(self, session_id):
        session = self.db["checkout_sessions"].get(session_id)
        if not session:
            raise StripeError(
                404, f"No such checkout.session: '{session_id}'", code="resource_missing", param="session"
            )
        return session

    def list_checkout_sessions(self, query):
        sessions = sorted(self.db["checkout_sessions"].values(), key=lambda s: s["created"], reverse=True)
        for key in ("status", "customer", "customer_email"):
            if query.get(key):
                sessions = [s for s in sessions if s.get(key) == query[key]]
        limit = int(query.get("limit") or 10)
        return {"object": "list", "data": sessions[:limit], "has_more": len(sessions) > limit,
                "url": "/v1/checkout/sessions"}

    def list_events(self, pairs):
        """`GET /v1/events` as Stripe answers it: newest first, `created[gte]`/`[gt]`/`[lte]`/`[lt]`,
        `type` or `types[]` (up to 20), `limit` (1-100, default 10), `starting_after`, `has_more`."""
        query = {}
        types = []
        for key, value in pairs:
            if key == "types[]":
                types.append(value)
            else:
                query[key] = value
        if "type" in query:
            types.append(query["type"])
        if len(types) > 20:
            raise StripeError(400, "You may pass at most 20 types.", param="types")
        known = {"created[gte]", "created[gt]", "created[lte]", "created[lt]", "created", "limit",
                 "starting_after", "ending_before", "type", "delivery_success"}
        for key in query:
            if key not in known:
                raise unknown(key)
        events = [e for extra in self.db["extra"].values() for e in extra["events"]]
        events.sort(key=lambda e: (e["created"], e["id"]), reverse=True)
        bounds = {"created[gte]": lambda c, v: c >= v, "created[gt]": lambda c, v: c > v,
                  "created[lte]": lambda c, v: c <= v, "created[lt]": lambda c, v: c < v,
                  "created": lambda c, v: c == v}
        for key, test in bounds.items():
            if key in query:
                try:
                    bound = int(query[key])
                except ValueError:
                    raise StripeError(400, f"Invalid integer: {query[key]}", param=key)
                events = [e for e in events if test(e["created"], bound)]
        if types:
            events = [e for e in events if e["type"] in types]
        if query.get("starting_after"):
            ids = [e["id"] for e in events]
            if query["starting_after"] not in ids:
                raise StripeError(400, f"No such event: '{query['starting_after']}'", param="starting_after")
            events = events[ids.index(query["starting_after"]) + 1:]
        try:
            limit = int(query.get("limit") or 10)
        except ValueError:
            raise StripeError(400, f"Invalid integer: {query.get('limit')}", param="limit")
        if not 1 <= limit <= 100:
            raise StripeError(400, "This value must be between 1 and 100.", param="limit")
        return {"object": "list", "data": events[:limit], "has_more": len(events) > limit,
                "url": "/v1/events"}

    def create_portal_session(self, params):
        for key in params:
            if key not in PORTAL_SCALARS and not key.startswith("flow_data["):
                raise unknown(key)
        customer = nonempty(params, "customer")
        if customer is None:
            raise missing("customer")
        if customer not in self.db["customers"]:
            raise StripeError(400, f"No such customer: '{customer}'", code="resource_missing", param="customer")
        return_url = check_url(params, "return_url")
        session_id = new_id("bps_", 24)
        session = {
            "id": session_id,
            "object": "billing_portal.session",
            "configuration": params.get("configuration") or "bpc_local_default",
            "created": int(time.time()),
            "customer": customer,
            "flow": None,
            "livemode": False,
            "locale": params.get("locale"),
            "on_behalf_of": params.get("on_behalf_of"),
            "return_url": return_url,
            "url": f"{self.public}/portal/{session_id}",
        }
        self.db["portal_sessions"][session_id] = session
        log(f"created portal session {session_id} for {customer}")
        return 200, session

    # --- what the hosted page does ------------------------------------------------------

    def complete(self, session_id):
        """Pays an open session (caller holds the lock). Returns the event to send."""
        session = self.retrieve_checkout_session(session_id)
        self.expire_if_due(session)
        if session["status"] != "open":
            raise StripeError(409, f"This Checkout Session is {session['status']}; only an open one can be paid.")
        extra = self.db["extra"][session_id]
        email = session["customer_email"]
        customer = session["customer"]
        if customer:
            email = email or self.db["customers"][customer]["email"]
        else:
            customer = new_id("cus_", 14)
            self.db["customers"][customer] = {
                "id": customer, "object": "customer", "email": email, "created": int(time.time()),
                "metadata": {}, "livemode": False,
            }
        session.update(
            customer=customer,
            customer_details={
                "address": {"city": None, "country": "AU", "line1": None, "line2": None, "postal_code": None,
                            "state": None},
                "email": email,
                "name": None,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
                "business_name": session["metadata"].get("company_name"),
                "individual_name": None,
            },
            status="complete",
            payment_status="no_payment_required" if session["mode"] == "setup" else "paid",
            url=None,
        )
        if session["mode"] == "subscription":
            session["subscription"] = new_id("sub_", 24)
            session["invoice"] = new_id("in_", 24)
            extra["subscription"] = {"id": session["subscription"], "metadata": extra["subscription_metadata"]}
        elif session["mode"] == "payment":
            session["payment_intent"] = new_id("pi_", 24)
        return self.event(session, "checkout.session.completed")

    def expire(self, session_id, automatic=False):
        session = self.retrieve_checkout_session(session_id)
        if session["status"] != "open":
            raise StripeError(
                400 if not automatic else 409,
                f"Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout "
                f"Session has a status of \"{session['status']}\".",
            )
        session.update(status="expired", url=None)
        return self.event(session, "checkout.session.expired")

    def expire_if_due(self, session):
        if session["status"] == "open" and session["expires_at"] <= time.time():
            event = self.expire(session["id"], automatic=True)
            threading.Thread(target=self.deliver, args=(session["id"], event), daemon=True).start()

    def event(self, session, kind):
        event = {
            "id": new_id("evt_", 24),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(session))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        self.db["extra"][session["id"]]["events"].append(event)
        self.save()
        return event

    def last_event(self, session_id):
        self.retrieve_checkout_session(session_id)
        events = self.db["extra"][session_id]["events"]
        if not events:
            raise StripeError(409, "This Checkout Session has sent no event yet.")
        return events[-1]

    def deliver(self, session_id, event):
        """Posts a signed event to the webhook URL (without the lock). Returns what it answered."""
        body = json.dumps(event, indent=2).encode()
        timestamp = int(time.time())
        signature = hmac.new(
            self.args.webhook_secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        request = urllib.request.Request(
            self.args.webhook_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": f"t={timestamp},v1={signature}",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        started = time.time()
        result = {"url": self.args.webhook_url, "status": None, "body": None, "error": None}
        try:
            with urllib.request.urlopen(request, timeout=self.args.webhook_timeout) as response:
                result["status"] = response.status
                result["body"] = response.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            result["status"] = err.code
            result["body"] = err.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as err:
            result["error"] = str(getattr(err, "reason", err))
        result["seconds"] = round(time.time() - started, 3)
        log(f"{event['type']} {event['id']} for {session_id} -> {result['status'] or result['error']}"
            f" {(result['body'] or '')[:200]}")
        with self.lock:
            extra = self.db["extra"].get(session_id)
            if extra is not None:
                extra["deliveries"].append({"event": event["id"], "type": event["type"], **result})
                self.save()
        return result

    def auto_expire(self):
        while True:
            time.sleep(5)
            with self.lock:
                due = [s for s in self.db["checkout_sessions"].values()
                       if s["status"] == "open" and s["expires_at"] <= time.time()]
                events = [(s["id"], self.expire(s["id"], automatic=True)) for s in due]
            for session_id, event in events:
                self.deliver(session_id, event)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; color: #1a1a2e; }}
.banner {{ background: #fff3cd; border: 1px solid #e0c36a; padding: .5rem .75rem; border-radius: 6px; font-size: .9rem; }}
table {{ border-collapse: collapse; width: 100%; margin: 1.5rem 0; }}
td {{ padding: .4rem .5rem; border-bottom: 1px solid #eee; vertical-align: top; }}
td:first-child {{ color: #666; width: 40%; }}
button {{ font-size: 1rem; padding: .6rem 1.4rem; border-radius: 6px; border: 1px solid #635bff; cursor: pointer; }}
.pay {{ background: #635bff; color: white; }} .expire {{ background: white; color: #635bff; }}
pre {{ background: #f6f8fa; padding: .75rem; overflow-x: auto; font-size: .85rem; }}
.bad {{ color: #b00020; }} .ok {{ color: #0a7d32; }}
</style></head><body>
<p class="banner">Local Stripe stand-in: no card is charged, nothing leaves this machine.</p>
{content}
</body></html>"""


def page(title, content):
    return PAGE.format(title=html.escape(title), content=content).encode()


def rows(pairs):
    return "<table>" + "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in pairs if v not in (None, "")
    ) + "</table>"


def checkout_page(session, extra):
    meta = session["metadata"]
    plan = meta.get("plan_type") or meta.get("plan") or "—"
    items = ", ".join(f"{i['price']} × {i['quantity']}" for i in extra["line_items"])
    left = session["expires_at"] - int(time.time())
    details = rows([
        ("Plan", plan),
        ("Founding spot", meta.get("founding_spot")),
        ("E-mail", session["customer_email"] or (session["customer_details"] or {}).get("email")),
        ("Company", meta.get("company_name")),
        ("Price", items),
        ("Amount", f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
         if session["amount_total"] is not None else None),
        ("Session", session["id"]),
        ("Status", session["status"]),
        ("Expires", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(session["expires_at"]))
         + (f" (in {left // 60} min {left % 60} s)" if session["status"] == "open" and left > 0 else "")),
        ("Customer", session["customer"]),
        ("Subscription", session["subscription"]),
    ])
    sid = html.escape(session["id"])
    if session["status"] == "open":
        actions = f"""
<form method="post" action="/checkout/{sid}/pay" style="display:inline"><input type="hidden" name="browser" value="1">
<button class="pay" type="submit">Pay</button></form>
<form method="post" action="/checkout/{sid}/expire" style="display:inline"><input type="hidden" name="browser" value="1">
<button class="expire" type="submit">Let it expire</button></form>"""
    else:
        actions = f"""<p>This session is <b>{html.escape(session['status'])}</b>.</p>
<form method="post" action="/checkout/{sid}/resend"><input type="hidden" name="browser" value="1">
<button class="expire" type="submit">Send its last event again</button></form>"""
    deliveries = "".join(
        f"<li>{html.escape(d['type'])} <code>{html.escape(d['event'])}</code>: "
        f"<span class=\"{'ok' if d['status'] and 200 <= d['status'] < 300 else 'bad'}\">"
        f"{html.escape(str(d['status'] or d['error']))}</span> {html.escape((d['body'] or '')[:300])}</li>"
        for d in extra["deliveries"]
    )
    if deliveries:
        deliveries = f"<h3>Webhook deliveries</h3><ul>{deliveries}</ul>"
    return page(f"Checkout — {plan}", f"<h1>Subscribe: {html.escape(plan)}</h1>{details}{actions}{deliveries}")


def delivery_page(result, session, target):
    delivery = result["webhook"]
    status = delivery["status"] or delivery["error"]
    link = f'<p><a href="{html.escape(target)}">Continue to {html.escape(target)}</a></p>' if target else ""
    return page("Webhook failed", f"""<h1 class="bad">The webhook answered {html.escape(str(status))}</h1>
<p>{html.escape(result['event']['type'])} <code>{html.escape(result['event']['id'])}</code> to
<code>{html.escape(delivery['url'])}</code>. Stripe would retry it; here you can
<a href="/checkout/{html.escape(session['id'])}">send it again</a>.</p>
<pre>{html.escape(delivery['body'] or '')}</pre>{link}""")


class Handler(BaseHTTPRequestHandler):
    server_version = "stripe-standin/1"
    protocol_version = "HTTP/1.1"
    stripe: Stripe = None  # set in main
    turnstile: Turnstile = Turnstile()

    def log_message(self, fmt, *args):
        log(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")

    # --- plumbing -----------------------------------------------------------------------

    def body_params(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        return dict(parse_qsl(raw, keep_blank_values=True))

    def send(self, status, body, content_type="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = (json.dumps(body, indent=2) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def api(self, status, body, extra_headers=()):
        headers = [("Request-Id", new_id("req_", 14)), ("Stripe-Version", self.headers.get("Stripe-Version") or API_VERSION)]
        self.send(status, body, headers=headers + list(extra_headers))

    def redirect(self, location):
        self.send(303, b"", "text/plain", [("Location", location)])

    def route(self):
        path = urlparse(self.path).path.rstrip("/") or "/"
        return path, [p for p in path.split("/") if p]

    # --- methods ------------------------------------------------------------------------

    def do_GET(self):
        path, parts = self.route()
        stripe = self.stripe
        try:
            if parts[:1] == ["v1"]:
                stripe.authenticate(self.headers.get("Authorization"))
                with stripe.lock:
                    if parts[1:] == ["checkout", "sessions"]:
                        query = dict(parse_qsl(urlparse(self.path).query))
                        return self.api(200, stripe.list_checkout_sessions(query))
                    if parts[1:] == ["events"]:
                        return self.api(200, stripe.list_events(parse_qsl(urlparse(self.path).query)))
                    if parts[1:3] == ["checkout", "sessions"] and len(parts) == 4:
                        session = stripe.retrieve_checkout_session(parts[3])
                        stripe.expire_if_due(session)
                        return self.api(200, session)
                    if parts[1:3] == ["billing_portal", "sessions"] and len(parts) == 4:
                        session = stripe.db["portal_sessions"].get(parts[3])
                        if session:
                            return self.api(200, session)
                        raise StripeError(404, f"No such billing_portal.session: '{parts[3]}'", code="resource_missing")
                    if parts[1:2] == ["customers"] and len(parts) == 3:
                        customer = stripe.db["customers"].get(parts[2])
                        if customer:
                            return self.api(200, customer)
                        raise StripeError(404, f"No such customer: '{parts[2]}'", code="resource_missing", param="id")
                raise self.unrecognised()
            if path == "/health":
                return self.send(200, {"ok": True})
            if path == "/":
                return self.send(200, self.index(), "text/html; charset=utf-8")
            if parts[:1] == ["checkout"] and len(parts) == 2:
                with stripe.lock:
                    session = stripe.retrieve_checkout_session(parts[1])
                    stripe.expire_if_due(session)
                    content = checkout_page(session, stripe.db["extra"][session["id"]])
                return self.send(200, content, "text/html; charset=utf-8")
            if parts[:1] == ["portal"] and len(parts) == 2:
                with stripe.lock:
                    session = stripe.db["portal_sessions"].get(parts[1])
                    customer = session and stripe.db["customers"].get(session["customer"])
                if not session:
                    return self.send(404, page("Not found", "<h1>No such portal session</h1>"), "text/html; charset=utf-8")
                back = f'<p><a href="{html.escape(session["return_url"])}">Return to {html.escape(session["return_url"])}</a></p>' \
                    if session["return_url"] else ""
                content = page("Billing portal", "<h1>Billing portal</h1>" + rows([
                    ("Customer", session["customer"]), ("E-mail", (customer or {}).get("email")),
                    ("Session", session["id"])]) + back)
                return self.send(200, content, "text/html; charset=utf-8")
            return self.send(404, {"error": "not found"})
        except StripeError as err:
            if parts[:1] == ["v1"]:
                return self.api(err.status, err.body)
            return self.send(err.status, err.body)

    def do_POST(self):
        path, parts = self.route()
        if path == "/turnstile/v0/siteverify":
            return self.siteverify()
        stripe = self.stripe
        params = self.body_params()
        try:
            if parts[:1] == ["v1"]:
                stripe.authenticate(self.headers.get("Authorization"))
                key = self.headers.get("Idempotency-Key")
                if parts[1:] == ["checkout", "sessions"]:
                    create = lambda: stripe.create_checkout_session(params)  # noqa: E731
                elif parts[1:] == ["billing_portal", "sessions"]:
                    create = lambda: stripe.create_portal_session(params)  # noqa: E731
                elif parts[1:3] == ["checkout", "sessions"] and len(parts) == 5 and parts[4] == "expire":
                    for param in params:
                        raise unknown(param)
                    with stripe.lock:
                        event = stripe.expire(parts[3])
                        session = stripe.db["checkout_sessions"][parts[3]]
                    threading.Thread(target=stripe.deliver, args=(parts[3], event), daemon=True).start()
                    return self.api(200, session)
                else:
                    raise self.unrecognised()
                with stripe.lock:
                    (status, body), replayed = stripe.idempotent(key, "POST", path, params, create)
                    stripe.save()
                headers = [("Idempotency-Key", key)] if key else []
                if replayed:
                    headers.append(("Idempotent-Replayed", "true"))
                return self.api(status, body, headers)
            if parts[:1] == ["checkout"] and len(parts) == 3 and parts[2] in ("pay", "expire", "resend"):
                return self.hosted_action(parts[1], parts[2], params.get("browser") == "1",
                                          deliver=params.get("deliver") != "0")
            return self.send(404, {"error": "not found"})
        except StripeError as err:
            if parts[:1] == ["v1"]:
                return self.api(err.status, err.body)
            if params.get("browser") == "1":
                return self.send(err.status, page("Error", f"<h1 class=\"bad\">{html.escape(str(err))}</h1>"),
                                 "text/html; charset=utf-8")
            return self.send(err.status, err.body)

    do_HEAD = do_GET

    def siteverify(self):
        """Cloudflare Turnstile's Siteverify: form-encoded or JSON in, JSON out (always)."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        if (self.headers.get("Content-Type") or "").startswith("application/json"):
            try:
                params = json.loads(raw or "{}")
            except ValueError:
                params = None
            if not isinstance(params, dict):
                return self.send(400, Turnstile.failure("bad-request"))
        else:
            params = dict(parse_qsl(raw, keep_blank_values=True))
        answer = self.turnstile.siteverify(params)
        log("turnstile siteverify -> " + ("success" if answer["success"] else ",".join(answer["error-codes"])))
        return self.send(200, answer)

    def unrecognised(self):
        return StripeError(
            404,
            f"Unrecognized request URL ({self.command}: {urlparse(self.path).path}). The local Stripe "
            "stand-in serves checkout sessions and billing portal sessions only.",
        )

    def hosted_action(self, session_id, action, browser, deliver=True):
        stripe = self.stripe
        with stripe.lock:
            if action == "pay":
                event = stripe.complete(session_id)
            elif action == "expire":
                event = stripe.expire(session_id)
            else:
                event = stripe.last_event(session_id)
            session = json.loads(json.dumps(stripe.db["checkout_sessions"][session_id]))
        # deliver=0: the event happens but its webhook is lost (an outage longer than Stripe's
        # retries); `salesctl reconcile` finds it through GET /v1/events.
        delivery = stripe.deliver(session_id, event) if deliver else \
            {"url": None, "status": None, "body": None, "error": "not delivered (deliver=0)"}
        if not deliver and not browser:
            return self.send(200, {"session": session, "event": {"id": event["id"], "type": event["type"]},
                                   "webhook": delivery, "redirect": None})
        if event["type"] == "checkout.session.completed":
            target = (session["success_url"] or "").replace("{CHECKOUT_SESSION_ID}", session["id"])
        else:
            target = session["cancel_url"] or ""
        result = {
            "session": session,
            "event": {"id": event["id"], "type": event["type"]},
            "webhook": delivery,
            "redirect": target or None,
        }
        ok = delivery["status"] is not None and 200 <= delivery["status"] < 300
        if not browser:
            return self.send(200, result)
        if ok and target:
            return self.redirect(target)
        if ok:
            return self.redirect(f"/checkout/{session_id}")
        return self.send(502, delivery_page(result, session, target), "text/html; charset=utf-8")

    def index(self):
        with self.stripe.lock:
            sessions = sorted(self.stripe.db["checkout_sessions"].values(), key=lambda s: s["created"], reverse=True)
            items = "".join(
                f'<tr><td><a href="/checkout/{html.escape(s["id"])}">{html.escape(s["id"][:24])}…</a></td>'
                f'<td>{html.escape(s["customer_email"] or "")}</td><td>{html.escape(s["metadata"].get("plan_type", ""))}</td>'
                f'<td>{html.escape(s["status"])}</td></tr>'
                for s in sessions[:100]
            )
        content = (f"<h1>Local Stripe stand-in</h1><p>Webhooks go to <code>{html.escape(self.stripe.args.webhook_url)}"
                   f"</code>.</p><h3>Checkout sessions</h3>"
                   + (f"<table>{items}</table>" if items else "<p>None yet.</p>"))
        return page("Local Stripe stand-in", content)


def read_env_file(path):
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("STRIPE_STANDIN_PORT", 12111)))
    parser.add_argument("--public-url", help="base of the hosted pages' URLs (default http://HOST:PORT)")
    parser.add_argument("--webhook-url", default=os.environ.get("STRIPE_WEBHOOK_URL", DEFAULT_WEBHOOK_URL))
    parser.add_argument("--webhook-secret", help="whsec_… signing secret (default: the env file's, else $STRIPE_WEBHOOK_SECRET)")
    parser.add_argument("--webhook-timeout", type=float, default=300,
                        help="seconds to wait for the webhook (the first request may build the function)")
    parser.add_argument("--api-key", help="the only key accepted (default: the env file's STRIPE_SECRET_KEY, else "
                                          "$STRIPE_SECRET_KEY; neither: any sk_test_/rk_test_ key)")
    parser.add_argument("--price", action="append",
                        help="a price that exists, ID or ID=amount-in-cents; repeat (default: the env file's "
                             "STRIPE_FOUNDING_PRICE_ID and STRIPE_STANDARD_PRICE_ID; none: any price is accepted)")
    parser.add_argument("--env-file", help="read the secret, key and prices from this file (.env.dev), as the functions do")
    parser.add_argument("--currency", default="aud")
    parser.add_argument("--state", help="JSON file that keeps sessions and customers across restarts")
    parser.add_argument("--no-auto-expire", action="store_true", help="do not expire sessions past expires_at")
    parser.add_argument("--turnstile-secret",
                        help="the Turnstile secret key /turnstile/v0/siteverify accepts besides Cloudflare's test keys "
                             "(default: the env file's TURNSTILE_SECRET_KEY, else $TURNSTILE_SECRET_KEY; neither: any)")
    args = parser.parse_args()
    file_values = read_env_file(args.env_file) if args.env_file else {}

    def configured(key):
        return file_values.get(key) or os.environ.get(key) or None

    args.webhook_secret = args.webhook_secret or configured("STRIPE_WEBHOOK_SECRET")
    args.api_key = args.api_key or configured("STRIPE_SECRET_KEY")
    args.turnstile_secret = args.turnstile_secret or configured("TURNSTILE_SECRET_KEY")
    if not args.price and file_values:
        args.price = [p for p in (file_values.get("STRIPE_FOUNDING_PRICE_ID"),
                                  file_values.get("STRIPE_STANDARD_PRICE_ID")) if p]
    if not args.webhook_secret:
        parser.error("a webhook signing secret is needed: --webhook-secret, --env-file or STRIPE_WEBHOOK_SECRET")
    args.public_url = args.public_url or f"http://{args.host}:{args.port}"
    Handler.stripe = Stripe(args)
    Handler.turnstile = Turnstile(args.turnstile_secret)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    if not args.no_auto_expire:
        threading.Thread(target=Handler.stripe.auto_expire, daemon=True).start()
    log(f"listening on {args.public_url}; webhooks to {args.webhook_url}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
