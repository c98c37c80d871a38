#!/usr/bin/env python3
"""Serves the landing page example (web/) for `make dev` on http://127.0.0.1:8080, the origin
that .env.dev allows (LANDING_ORIGIN, ALLOWED_REDIRECT_ORIGINS), with the pages checkout and the
portal send people back to:

    /                 web/example.html, its API base pointed at this `make dev`'s gateway (and, with
                      --turnstile-sitekey, the widget's data-turnstile-sitekey: the human check)
    /<file>           web/<file> (the widget's JS and CSS)
    /welcome          CHECKOUT_SUCCESS_URL: "payment received", with the session id
    /pricing          CHECKOUT_CANCEL_URL: "checkout cancelled", a link back
    /account          PORTAL_RETURN_URL: back from the billing portal

Python standard library only.
"""

import argparse
import html
import mimetypes
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEB = os.path.join(ROOT, "web")
EXAMPLE_BASE = "http://127.0.0.1:9000"

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; }}</style>
</head><body><h1>{title}</h1>{body}<p><a href="/">Back to the landing page</a></p></body></html>"""


class Handler(BaseHTTPRequestHandler):
    api_base = EXAMPLE_BASE
    turnstile_sitekey = ""

    def log_message(self, fmt, *args):
        print(f"[landing] {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", file=sys.stderr, flush=True)

    def send(self, status, body, content_type="text/html; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def page(self, title, body):
        self.send(200, PAGE.format(title=html.escape(title), body=body).encode())

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        path = url.path
        if path == "/welcome":
            session = html.escape(query.get("session_id", ["?"])[0])
            return self.page("Payment received", f"<p>Welcome aboard. Checkout session <code>{session}</code>.</p>")
        if path == "/pricing":
            return self.page("Checkout cancelled", "<p>Nothing was charged.</p>")
        if path == "/account":
            return self.page("Your account", "<p>Back from the billing portal.</p>")
        name = "example.html" if path in ("/", "/index.html") else path.lstrip("/")
        file = os.path.realpath(os.path.join(WEB, name))
        if not file.startswith(os.path.realpath(WEB) + os.sep) or not os.path.isfile(file):
            return self.send(404, b"not found\n", "text/plain")
        with open(file, "rb") as f:
            body = f.read()
        content_type = mimetypes.guess_type(file)[0] or "application/octet-stream"
        if content_type == "text/html":
            body = body.replace(EXAMPLE_BASE.encode(), self.api_base.rstrip("/").encode())
            if self.turnstile_sitekey:
                body = body.replace(b"<div data-agency-os-widget", b'<div data-agency-os-widget data-turnstile-sitekey="'
                                    + html.escape(self.turnstile_sitekey).encode() + b'"')
            content_type += "; charset=utf-8"
        self.send(200, body, content_type)

    do_HEAD = do_GET


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    # The widget calls the API as in production (data-api-base + /billing/…): the local gateway.
    parser.add_argument("--api", "--functions", dest="api", default=EXAMPLE_BASE,
                        help="the local API gateway's URL (make dev's http://127.0.0.1:9000)")
    parser.add_argument("--turnstile-sitekey", default="",
                        help="render the human check with this Turnstile sitekey (e.g. Cloudflare's test key "
                             "1x00000000000000000000AA); default: none, no check")
    args = parser.parse_args()
    Handler.api_base = args.api
    Handler.turnstile_sitekey = args.turnstile_sitekey
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(f"[landing] http://{args.host}:{args.port}/ serves {WEB}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
