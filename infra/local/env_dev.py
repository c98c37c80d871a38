#!/usr/bin/env python3
"""Writes .env.dev, the local configuration of the functions under `cargo lambda watch`.

The variable names are production's (shared/src/lambda/config.rs); secrets come from the environment
locally, as the code reads them when SECRETS_ID is unset. Rules:

- A variable set in the environment of `make dev` wins (e.g. `LANDING_URL=http://localhost:3000
  make dev`, or `STRIPE_SECRET_KEY=sk_test_… make dev` for real Stripe test mode).
- The webhook secrets are random test values, generated once and kept across runs.
- Without STRIPE_SECRET_KEY in the environment, Stripe is the local stand-in
  (STRIPE_API_BASE=http://127.0.0.1:12111, a dummy key, price_local_* prices); with it, Stripe's
  API and the STRIPE_FOUNDING_PRICE_ID / STRIPE_STANDARD_PRICE_ID of that account.
- Team alerts go to the local server's TeamAlertsTopic (AWS_ENDPOINT_URL_SNS, TEAM_ALERTS_TOPIC_ARN);
  `TEAM_ALERTS_TOPIC_ARN= make dev` (empty) turns them off.
- The human check (Cloudflare Turnstile) is off: no TURNSTILE_SECRET_KEY, unless DEV_TURNSTILE=1.
  Then TURNSTILE_SECRET_KEY (default Cloudflare's always-passing test secret
  1x0000000000000000000000000000000AA) and TURNSTILE_VERIFY_URL (the stand-in's
  /turnstile/v0/siteverify; with real Stripe, where no stand-in runs, Cloudflare's).

    env_dev.py [--out .env.dev]      writes the file, prints "standin" or "stripe"
"""

import argparse
import os
import secrets
import sys

STANDIN_KEY = "sk_test_local_standin"
# The team alerts topic as the local server provisions it (named by its logical id in the template).
LOCAL_TEAM_ALERTS_TOPIC = "arn:aws:sns:ap-southeast-2:123456789012:TeamAlertsTopic"
# Cloudflare's test secret key that always passes (the stand-in honours it too).
TURNSTILE_TEST_SECRET = "1x0000000000000000000000000000000AA"


def read(path):
    values = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, value = line.split("=", 1)
                    values[key.strip()] = value.strip()
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=".env.dev")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if v.strip()}
    old = read(args.out)
    landing = env.get("LANDING_URL", "http://127.0.0.1:8080").rstrip("/")
    dynamodb_port = env.get("DYNAMODB_PORT", "8000")
    standin_port = env.get("STRIPE_STANDIN_PORT", "12111")
    real_stripe = "STRIPE_SECRET_KEY" in env and env["STRIPE_SECRET_KEY"] != STANDIN_KEY

    def setting(key, default):
        return env.get(key, default)

    def secret(key, make):
        """From the environment, else kept from the last .env.dev, else new."""
        return env.get(key) or old.get(key) or make()

    if real_stripe:
        for key in ("STRIPE_FOUNDING_PRICE_ID", "STRIPE_STANDARD_PRICE_ID"):
            if key not in env:
                print(f"env_dev: with STRIPE_SECRET_KEY set, also set {key} to a recurring price of that "
                      "test-mode account (price_…)", file=sys.stderr)
                sys.exit(2)
        if not env["STRIPE_SECRET_KEY"].startswith(("sk_test_", "rk_test_")):
            print("env_dev: STRIPE_SECRET_KEY is not a test-mode key (sk_test_… / rk_test_…); refusing to run "
                  "the local stack against live Stripe", file=sys.stderr)
            sys.exit(2)

    stripe = [
        ("STRIPE_API_BASE", setting("STRIPE_API_BASE", "https://api.stripe.com") if real_stripe
         else f"http://127.0.0.1:{standin_port}"),
        ("STRIPE_SECRET_KEY", env["STRIPE_SECRET_KEY"] if real_stripe else STANDIN_KEY),
        ("STRIPE_WEBHOOK_SECRET", secret("STRIPE_WEBHOOK_SECRET", lambda: "whsec_" + secrets.token_hex(24))),
        ("STRIPE_FOUNDING_PRICE_ID", env["STRIPE_FOUNDING_PRICE_ID"] if real_stripe else "price_local_founding"),
        ("STRIPE_STANDARD_PRICE_ID", env["STRIPE_STANDARD_PRICE_ID"] if real_stripe else "price_local_standard"),
    ]
    lines = [
        "# Written by `make dev` (infra/local/env_dev.py) on every run: edit the environment of",
        "# `make dev` instead (see infra/local/README.md). Secrets are local test values, kept across",
        "# runs. Same names as production (shared/src/lambda/config.rs); SECRETS_ID is unset, so secrets are",
        "# read from here.",
        "",
        "# The local DynamoDB server (moto behind one lock, infra/local/dynamodb_server.py)",
        f"TABLE_NAME={setting('TABLE_NAME', 'agency-sales')}",
        f"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:{dynamodb_port}",
        "AWS_REGION=ap-southeast-2",
        "AWS_ACCESS_KEY_ID=test",
        "AWS_SECRET_ACCESS_KEY=test",
        f"RUST_LOG={setting('RUST_LOG', 'info')}",
        "",
        "# Team alerts: the webhooks publish to the template's TeamAlertsTopic, which the same local",
        "# server provisions (make dev prints each as an [alert] line); only the webhooks read the topic",
        f"AWS_ENDPOINT_URL_SNS=http://127.0.0.1:{dynamodb_port}",
        # Set but empty in the environment of make dev: no topic, no alerts.
        "TEAM_ALERTS_TOPIC_ARN=" + os.environ.get("TEAM_ALERTS_TOPIC_ARN", LOCAL_TEAM_ALERTS_TOPIC).strip(),
        "",
        "# Waitlist offers: SES is the same local server's (it provisions the template's OfferTemplate and",
        "# the sender's domain); the links open the local landing page",
        f"AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:{dynamodb_port}",
        # A bare address: the env file format has no quoting for "Agency OS <…>" (deployed, the
        # template gives the display name).
        "OFFER_SENDER=offers@keiracom.com",
        "OFFER_TEMPLATE=OfferTemplate",
        f"OFFER_LINK_BASE={setting('OFFER_LINK_BASE', landing + '/')}",
        f"OFFER_SIGNING_KEY={secret('OFFER_SIGNING_KEY', lambda: secrets.token_hex(32))}",
        "",
        "# Stripe: " + ("the real API in test mode" if real_stripe
                        else f"the local stand-in (infra/local/stripe_standin.py) on port {standin_port}"),
        *(f"{key}={value}" for key, value in stripe),
        "",
        "# Booking webhooks (make send-webhook signs with these)",
        f"CAL_WEBHOOK_SECRET={secret('CAL_WEBHOOK_SECRET', lambda: secrets.token_hex(24))}",
        f"CALENDLY_WEBHOOK_SIGNING_KEY={secret('CALENDLY_WEBHOOK_SIGNING_KEY', lambda: secrets.token_urlsafe(32))}",
    ]
    previous = [k for k in ("STRIPE_WEBHOOK_SECRET_PREVIOUS", "CAL_WEBHOOK_SECRET_PREVIOUS",
                            "CALENDLY_WEBHOOK_SIGNING_KEY_PREVIOUS") if k in env]
    lines += [f"{key}={env[key]}" for key in previous]
    if env.get("DEV_TURNSTILE") == "1":
        verify_url = ("https://challenges.cloudflare.com/turnstile/v0/siteverify" if real_stripe
                      else f"http://127.0.0.1:{standin_port}/turnstile/v0/siteverify")
        lines += [
            "",
            "# The human check on founding checkouts (DEV_TURNSTILE=1): Cloudflare Turnstile's Siteverify",
            f"TURNSTILE_SECRET_KEY={env.get('TURNSTILE_SECRET_KEY', TURNSTILE_TEST_SECRET)}",
            f"TURNSTILE_VERIFY_URL={setting('TURNSTILE_VERIFY_URL', verify_url)}",
        ]
    lines += [
        "",
        f"# The landing page and the app, locally ({landing}); redirects must use these origins",
        f"LANDING_ORIGIN={setting('LANDING_ORIGIN', landing)}",
        "ALLOWED_REDIRECT_ORIGINS=" + setting(
            "ALLOWED_REDIRECT_ORIGINS",
            ",".join(dict.fromkeys([landing, landing.replace("127.0.0.1", "localhost")]))),
        f"CHECKOUT_SUCCESS_URL={setting('CHECKOUT_SUCCESS_URL', landing + '/welcome')}",
        f"CHECKOUT_CANCEL_URL={setting('CHECKOUT_CANCEL_URL', landing + '/pricing')}",
        f"PORTAL_RETURN_URL={setting('PORTAL_RETURN_URL', landing + '/account')}",
    ]
    tmp = args.out + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, args.out)
    print("stripe" if real_stripe else "standin")


if __name__ == "__main__":
    main()
