#!/usr/bin/env python3
"""Serves the landing page example (web/) for `make dev` on http://127.0.0.1:8080, the origin
that .env.dev allows (LANDING_ORIGIN, ALLOWED_REDIRECT_ORIGINS), with the pages checkout and the
portal send people back to:

    /                 web/example.html, its API base pointed at this `make dev`'s gateway (and, with
                      --turnstile-sitekey, the widget's data-turnstile-sitekey: the human check)
    /<file>           web/<file> (the widget's JS and CSS)
    /widget/v1/<file> the widget's JS and CSS at the path the stack serves them from
                      (https://<distribution>/widget/v1/agency-os-widget.js, the WidgetUrl
                      output), with CloudFront's Access-Control-Allow-Origin: *
    /embed.html       docs/widget.md's embed snippet alone in a plain page, the stack's URLs
                      replaced by this server's and the gateway's: open it as
                      http://localhost:8080/embed.html, an origin of the gateway's local
                      WidgetOrigins, as a site embedding the widget would (the browser test does)
    /board/           the sales team's board (web/board/, docs/board.md) at /board/index.html, with
                      /board/config.json pointing it at the gateway's /board/api routes and its
                      local stand-in of the board's Cognito user pool (sign in as a dev user)
    /welcome          CHECKOUT_SUCCESS_URL: "payment received", with the session id
    /pricing          CHECKOUT_CANCEL_URL: "checkout cancelled", a link back
    /account          PORTAL_RETURN_URL: back from the billing portal

Python standard library only.
"""

import argparse
import html
import json
import mimetypes
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEB = os.path.join(ROOT, "web")
EXAMPLE_BASE = "http://127.0.0.1:9000"
# The widget's versioned path, as in the stack (infra/template.yaml, make publish-widget).
WIDGET_PATH = "/widget/v1/"
WIDGET_FILES = ("agency-os-widget.js", "agency-os-widget.css")
# The board's sign-in locally: the gateway's stand-in for the template's user pool and app client
# (infra/local/gateway.py, local_user_pools: logical ids stand for the ids AWS would give).
BOARD_POOL = "BoardUserPool"
BOARD_CLIENT = "BoardUserPoolClient"


def board_config(api_base):
    """What make publish-board writes from the stack's outputs, for make dev's gateway."""
    base = api_base.rstrip("/")
    return {"apiBase": base + "/board/api", "authBase": f"{base}/local-cognito/{BOARD_POOL}",
            "clientId": BOARD_CLIENT}
# docs/widget.md's embed snippet: the html block after its embed-snippet marker, with these as the
# stack's URLs (WidgetUrl's host, HttpApiUrl). tests/browser/widget.test.mjs reads it the same way.
WIDGET_DOC = os.path.join(ROOT, "docs", "widget.md")
SNIPPET = re.compile(r"<!-- embed-snippet[\s\S]*?-->\s*```html\n([\s\S]*?)```")
DOC_WIDGET_HOST = "https://d111111abcdef8.cloudfront.net"
DOC_API = re.compile(r"https://[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com")


def embed_page(widget_host, api_base):
    """A plain page holding only docs/widget.md's snippet, with local URLs (None without one)."""
    try:
        with open(WIDGET_DOC, encoding="utf-8") as f:
            match = SNIPPET.search(f.read())
    except OSError:
        return None
    if not match:
        return None
    snippet = match.group(1).replace(DOC_WIDGET_HOST, widget_host.rstrip("/"))
    snippet = DOC_API.sub(api_base.rstrip("/"), snippet)
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>A plain page</title></head>\n'
            f"<body>\n{snippet}</body></html>\n")

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; }}</style>
</head><body><h1>{title}</h1>{body}<p><a href="/">Back to the landing page</a></p></body></html>"""


class Handler(BaseHTTPRequestHandler):
    api_base = EXAMPLE_BASE
    widget_host = "http://127.0.0.1:8080"
    turnstile_sitekey = ""

    def log_message(self, fmt, *args):
        print(f"[landing] {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", file=sys.stderr, flush=True)

    def send(self, status, body, content_type="text/html; charset=utf-8", extra=()):
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
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
        if path in ("/board", "/board/"):
            target = "/board/index.html" + (f"?{url.query}" if url.query else "")
            return self.send(302, b"", "text/plain", extra=[("Location", target)])
        if path == "/board/config.json":
            body = json.dumps(board_config(self.api_base)).encode()
            return self.send(200, body, "application/json")
        if path == "/embed.html":
            page = embed_page(self.widget_host, self.api_base)
            if page is None:
                return self.send(404, b"docs/widget.md has no embed snippet\n", "text/plain")
            return self.send(200, page.encode())
        if path.startswith(WIDGET_PATH):
            name = path[len(WIDGET_PATH):]
            if name not in WIDGET_FILES:
                return self.send(404, b"not found\n", "text/plain")
            with open(os.path.join(WEB, name), "rb") as f:
                body = f.read()
            kind = "text/javascript" if name.endswith(".js") else "text/css"
            return self.send(200, body, kind + "; charset=utf-8",
                             extra=[("Access-Control-Allow-Origin", "*")])
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
    Handler.widget_host = f"http://{args.host}:{args.port}"
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(f"[landing] http://{args.host}:{args.port}/ serves {WEB}", file=sys.stderr, flush=True)
    print(f"[landing] the widget: http://{args.host}:{args.port}{WIDGET_PATH}{WIDGET_FILES[0]} "
          f"(and {WIDGET_FILES[1]}), as the stack serves it; docs/widget.md's snippet alone: "
          f"http://localhost:{args.port}/embed.html", file=sys.stderr, flush=True)
    print(f"[landing] the sales board: http://{args.host}:{args.port}/board/index.html "
          f"(signed in as a dev user: ?login_hint=ana@agency.test)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
