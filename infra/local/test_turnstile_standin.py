"""Tests of the stand-in's Turnstile Siteverify (infra/local/stripe_standin.py,
POST /turnstile/v0/siteverify), over HTTP on a free port: Cloudflare's test secret keys, the
configured secret redeeming each token once, missing fields, JSON bodies and idempotency keys.

    .venv/bin/python -m unittest infra/local/test_turnstile_standin.py
"""

import json
import os
import sys
import threading
import unittest
import urllib.parse
import urllib.request
from http.server import ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stripe_standin  # noqa: E402
from stripe_standin import TURNSTILE_FAIL, TURNSTILE_PASS, TURNSTILE_SPENT  # noqa: E402

LOCAL_SECRET = "local-turnstile-secret"


class SiteverifyTest(unittest.TestCase):
    def setUp(self):
        stripe_standin.Handler.turnstile = stripe_standin.Turnstile(LOCAL_SECRET)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), stripe_standin.Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/turnstile/v0/siteverify"

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def verify(self, as_json=False, **fields):
        if as_json:
            body, kind = json.dumps(fields).encode(), "application/json"
        else:
            body, kind = urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": kind})
        with urllib.request.urlopen(request, timeout=5) as response:
            self.assertEqual(response.status, 200)
            return json.load(response)

    def codes(self, **fields):
        answer = self.verify(**fields)
        return "success" if answer["success"] else answer["error-codes"]

    def test_cloudflares_test_secret_keys(self):
        for _ in range(2):  # the same token again: the test keys do not redeem
            answer = self.verify(secret=TURNSTILE_PASS, response="XXXX.DUMMY.TOKEN.XXXX", remoteip="127.0.0.2")
            self.assertTrue(answer["success"])
            self.assertEqual(answer["error-codes"], [])
            self.assertIn("challenge_ts", answer)
        self.assertEqual(self.codes(secret=TURNSTILE_FAIL, response="t"), ["invalid-input-response"])
        self.assertEqual(self.codes(secret=TURNSTILE_SPENT, response="t"), ["timeout-or-duplicate"])

    def test_the_configured_secret_redeems_each_token_once(self):
        self.assertEqual(self.codes(secret=LOCAL_SECRET, response="token-a"), "success")
        self.assertEqual(self.codes(secret=LOCAL_SECRET, response="token-a"), ["timeout-or-duplicate"])
        self.assertEqual(self.codes(secret=LOCAL_SECRET, response="token-b"), "success")
        # The test sitekeys' dummy token, too long or not printable: invalid, as at Cloudflare.
        self.assertEqual(self.codes(secret=LOCAL_SECRET, response="XXXX.DUMMY.TOKEN.XXXX"), ["invalid-input-response"])
        self.assertEqual(self.codes(secret=LOCAL_SECRET, response="x" * 2049), ["invalid-input-response"])
        self.assertEqual(self.codes(secret=LOCAL_SECRET, response="to ken"), ["invalid-input-response"])
        self.assertEqual(self.codes(secret="another-secret", response="token-c"), ["invalid-input-secret"])

    def test_missing_fields(self):
        self.assertEqual(self.codes(secret=LOCAL_SECRET), ["missing-input-response"])
        self.assertEqual(self.codes(secret=LOCAL_SECRET, response=""), ["missing-input-response"])
        self.assertEqual(self.codes(response="t"), ["missing-input-secret"])
        self.assertEqual(self.codes(), ["missing-input-secret", "missing-input-response"])

    def test_json_bodies_and_idempotency_keys(self):
        key = "4a1a7a26-7c58-4a4f-8d1e-8c2f3f0b6c11"
        first = self.verify(as_json=True, secret=LOCAL_SECRET, response="token-j", idempotency_key=key)
        self.assertTrue(first["success"])
        # A retry with the same key and token: the first answer again, not "already spent".
        self.assertEqual(self.verify(as_json=True, secret=LOCAL_SECRET, response="token-j", idempotency_key=key), first)
        # Without the key it is a second redemption.
        self.assertEqual(self.codes(secret=LOCAL_SECRET, response="token-j"), ["timeout-or-duplicate"])


if __name__ == "__main__":
    unittest.main()
