#!/usr/bin/env python3
"""The local API gateway of `make dev` / `make e2e`: infra/template.yaml's HTTP API in front of the
functions that `cargo lambda watch` runs, plus the functions' URLs, on one port (9000):

    /billing/…, /pipeline/…, /founding/…    the template's HttpApi routes: CORS, the JWT authorizer,
                                             AWS_IAM, throttling, 404 — as API Gateway answers them
    /lambda-url/<function>/<path>            the function's URL (payload 2.0, no authorizer)
    /2015-03-31/functions/<f>/invocations    passed to watch unchanged (make invoke, cargo lambda invoke)
    /local-issuer/…, /.well-known/…          a local OpenID issuer for the JWT authorizer (dev only)
    /local-cognito/<pool>/…                  a local stand-in for each Cognito user pool an authorizer
                                             names (the board's): hosted UI code flow with PKCE,
                                             dev users and their groups (dev only)

Why a gateway of our own: `cargo lambda watch` serves only function URLs, and it builds their
events with sourceIp 127.0.0.1 whoever calls; nothing local applied the template's routes, CORS,
authorizers or throttles. This reads them from the template (nothing here repeats what the template
says), builds each request's API Gateway payload 2.0 event with the caller's own address as
requestContext.http.sourceIp, and invokes the function through watch's Lambda invoke API.

Python 3.11, PyYAML and cryptography (both in the .venv with moto).

    gateway.py --port 9000 --watch http://127.0.0.1:9001 --env-file .env.dev
    gateway.py --print-routes --env-file .env.dev
    curl -s -X POST http://127.0.0.1:9000/local-issuer/token -d '{"email":"ada@example.com"}'
    curl -s -X POST http://127.0.0.1:9000/local-cognito/BoardUserPool/token -d '{"email":"ana@agency.test"}'
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import sys
import html
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from cfn_template import ROOT, TEMPLATE, load_template
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


# The account every local AWS thing uses (moto's default, tests/support's iam_request).
ACCOUNT_ID = "123456789012"
REGION = "ap-southeast-2"
LOCAL_AUDIENCE = "agency-os-local"
ISSUER_PATH = "/local-issuer"
COGNITO_PATH = "/local-cognito"
# A Cognito user pool's issuer as the template writes it: https://cognito-idp.<region>.amazonaws.com/
# <pool id>; locally the pool id is the pool's logical id (the resolver's placeholder for !Ref).
COGNITO_ISSUER = re.compile(r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/([A-Za-z0-9_]+)$")
# The local pools' users (make dev signs in as them; docs/board.md): e-mail -> groups.
DEV_USERS = {
    "ana@agency.test": ["sales"],
    "raj@agency.test": ["sales"],
    "guest@agency.test": [],
}


# ---------------------------------------------------------------------------------------------
# The template (read by cfn_template.py): the intrinsic functions the API section uses
# ---------------------------------------------------------------------------------------------

class TemplateError(Exception):
    pass


NO_VALUE = object()  # AWS::NoValue: the property (or list item) is left out


class Resolver:
    """Evaluates the intrinsic functions with local parameter values, the way CloudFormation would
    for a stack. A resource's Ref / GetAtt becomes a readable placeholder ("SalesApi",
    "SalesTable.Arn"): the gateway needs parameters and conditions, not physical ids."""

    def __init__(self, template, parameters):
        self.template = template
        specs = template.get("Parameters", {})
        values = {}
        for name, spec in specs.items():
            value = parameters.get(name, spec.get("Default"))
            if value is None:
                raise TemplateError(f"parameter {name} has no default: give it a local value")
            value = str(value) if not isinstance(value, list) else value
            pattern = spec.get("AllowedPattern")
            if pattern and isinstance(value, str) and not re.fullmatch(pattern, value):
                raise TemplateError(f"parameter {name}={value!r} does not match its AllowedPattern {pattern}")
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [item.strip() for item in value.split(",")] if value else []
            values[name] = value
        unknown = set(parameters) - set(specs)
        if unknown:
            raise TemplateError(f"the template has no parameter {', '.join(sorted(unknown))}")
        self.parameters = values
        self.pseudo = {
            "AWS::AccountId": ACCOUNT_ID, "AWS::Region": REGION, "AWS::StackName": "local",
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": NO_VALUE,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/local/local",
        }
        self._conditions = {}

    def condition(self, name):
        if name not in self._conditions:
            expr = self.template.get("Conditions", {}).get(name)
            if expr is None:
                raise TemplateError(f"no condition {name}")
            self._conditions[name] = bool(self.value(expr))
        return self._conditions[name]

    def ref(self, name):
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.template.get("Resources", {}):
            return name
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def sub(self, text, variables):
        def replace(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal}
            if name in variables:
                return str(self.value(variables[name]))
            if "." in name and name.split(".", 1)[0] in self.template.get("Resources", {}):
                return name  # ${Res.Attr}: placeholder, as for !GetAtt
            value = self.ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def value(self, node):
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.value(then if self.condition(name) else otherwise)
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::Equals":
                left, right = (self.value(a) for a in arg)
                return left == right
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Fn::Or":
                return any(self.value(a) for a in arg)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return self.sub(text, variables)
            if key == "Fn::GetAtt":
                return ".".join(arg)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(i) for i in self.value(items))
            if key == "Fn::Select":
                index, items = arg
                return self.value(items)[int(self.value(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.value(text)).split(sep)
        resolved = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}


# ---------------------------------------------------------------------------------------------
# The API: routes, CORS, authorizers and throttles, from the template
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Throttle:
    rate: float   # requests per second, refilled continuously
    burst: int    # bucket size


@dataclass
class Route:
    method: str          # GET, POST, …, or ANY
    path: str            # /pipeline/leads/{lead_id}, /files/{proxy+}, or $default
    function: str        # the binary cargo lambda watch runs
    logical_id: str      # its resource in the template
    auth: str = "NONE"   # NONE | JWT | AWS_IAM
    authorizer: str | None = None
    scopes: tuple = ()
    throttle: Throttle | None = None
    pattern: re.Pattern = field(init=False, repr=False)

    def __post_init__(self):
        self.method = self.method.upper()
        if self.method == "ANY" and self.path == "$default":
            self.pattern = re.compile(r".*")
            return
        parts = []
        for segment in self.path.strip("/").split("/"):
            greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
            variable = re.fullmatch(r"\{(\w+)\}", segment)
            if greedy:
                parts.append(f"(?P<{greedy.group(1)}>.+)")
            elif variable:
                parts.append(f"(?P<{variable.group(1)}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        self.pattern = re.compile("/" + "/".join(parts))

    @property
    def key(self):
        """API Gateway's routeKey: "GET /billing/founding-spots", or "$default"."""
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def priority(self):
        """API Gateway picks the most specific match: a full match before path variables, those
        before a greedy {proxy+}, a method before ANY, $default last."""
        if self.path == "$default":
            return (3, 0, 0)
        segments = self.path.strip("/").split("/")
        greedy = any(s.endswith("+}") for s in segments)
        literal = sum(1 for s in segments if not s.startswith("{"))
        return (1 if greedy else 0, -literal, 1 if self.method == "ANY" else 0)


@dataclass
class Cors:
    allow_origins: tuple = ()
    allow_methods: tuple = ()
    allow_headers: tuple = ()
    expose_headers: tuple = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def origin_allowed(self, origin):
        if not origin:
            return False
        for allowed in self.allow_origins:
            if allowed == "*" or allowed.lower() == origin.lower():
                return True
            if "*" in allowed:  # https://*.example.com
                regex = "^" + ".*".join(re.escape(p) for p in allowed.lower().split("*")) + "$"
                if re.match(regex, origin.lower()):
                    return True
        return False

    def allow_origin_value(self, origin):
        # "*" only when no credentials are allowed; otherwise the caller's origin, echoed.
        return "*" if "*" in self.allow_origins and not self.allow_credentials else origin

    def preflight(self, origin, method, request_headers):
        """The headers of API Gateway's own answer to a preflight, or None when this origin,
        method or header is not allowed (then the answer carries no CORS headers at all, and the
        browser refuses the real request)."""
        if not self.origin_allowed(origin):
            return None
        methods = {m.upper() for m in self.allow_methods}
        if "*" not in methods and method.upper() not in methods:
            return None
        wanted = [h.strip().lower() for h in (request_headers or "").split(",") if h.strip()]
        allowed = {h.lower() for h in self.allow_headers}
        if "*" not in allowed and any(h not in allowed for h in wanted):
            return None
        headers = {
            "Access-Control-Allow-Origin": self.allow_origin_value(origin),
            "Access-Control-Allow-Methods": ",".join(self.allow_methods),
        }
        if self.allow_headers:
            headers["Access-Control-Allow-Headers"] = ",".join(self.allow_headers)
        if self.max_age is not None:
            headers["Access-Control-Max-Age"] = str(self.max_age)
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def response_headers(self, origin):
        """What API Gateway adds to an actual (non-preflight) response."""
        if not self.origin_allowed(origin):
            return {}
        headers = {"Access-Control-Allow-Origin": self.allow_origin_value(origin)}
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        if self.expose_headers:
            headers["Access-Control-Expose-Headers"] = ",".join(self.expose_headers)
        return headers


@dataclass
class JwtAuthorizer:
    name: str
    issuer: str
    audiences: tuple
    identity_source: str = "$request.header.Authorization"


@dataclass
class Api:
    logical_id: str
    routes: list
    cors: Cors | None
    authorizers: dict
    access_log_format: str | None = None

    def match(self, method, path):
        """(route, path parameters), or (None, None): API Gateway's 404."""
        for route in self.routes:  # sorted most specific first
            if route.method not in (method.upper(), "ANY"):
                continue
            found = route.pattern.fullmatch(path)
            if found:
                return route, {k: v for k, v in found.groupdict().items()}
        return None, None


def _throttle(settings, fallback=None):
    if not settings:
        return fallback
    burst = settings.get("ThrottlingBurstLimit")
    rate = settings.get("ThrottlingRateLimit")
    if burst is None and rate is None:
        return fallback
    return Throttle(rate=float(rate if rate is not None else fallback.rate if fallback else 0),
                    burst=int(burst if burst is not None else fallback.burst if fallback else 0))


def build_api(template, parameters, api_id=None):
    """The HTTP API (AWS::Serverless::HttpApi) of the template, with its routes from every
    function's HttpApi events."""
    resolver = Resolver(template, parameters)
    resources = template.get("Resources", {})
    apis = [name for name, r in resources.items() if r.get("Type") == "AWS::Serverless::HttpApi"]
    if api_id is None:
        if len(apis) != 1:
            raise TemplateError(f"the template has {len(apis)} HTTP APIs ({apis}); name one")
        api_id = apis[0]
    props = resolver.value(resources[api_id].get("Properties", {}))

    cors = None
    config = props.get("CorsConfiguration")
    if config is True:
        cors = Cors(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
    elif isinstance(config, dict):
        cors = Cors(
            allow_origins=tuple(config.get("AllowOrigins", ())),
            allow_methods=tuple(config.get("AllowMethods", ())),
            allow_headers=tuple(config.get("AllowHeaders", ())),
            expose_headers=tuple(config.get("ExposeHeaders", ())),
            max_age=config.get("MaxAge"),
            allow_credentials=bool(config.get("AllowCredentials", False)),
        )

    auth = props.get("Auth", {})
    authorizers = {}
    for name, spec in auth.get("Authorizers", {}).items():
        jwt = spec.get("JwtConfiguration")
        if jwt is None:
            raise TemplateError(f"authorizer {name}: only JWT authorizers are emulated")
        audiences = jwt.get("audience", [])
        authorizers[name] = JwtAuthorizer(
            name=name, issuer=jwt["issuer"],
            audiences=tuple(audiences if isinstance(audiences, list) else [audiences]),
            identity_source=spec.get("IdentitySource", "$request.header.Authorization"))
    default_authorizer = auth.get("DefaultAuthorizer")
    default_throttle = _throttle(props.get("DefaultRouteSettings"))
    api_route_settings = props.get("RouteSettings", {}) or {}

    routes = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = (resource.get("Metadata", {}).get("BuildProperties", {}) or {}).get("Binary", logical_id)
        events = resource.get("Properties", {}).get("Events", {}) or {}
        for event in events.values():
            if event.get("Type") != "HttpApi":
                continue
            ev = resolver.value(event.get("Properties", {}) or {})
            if ev.get("ApiId", api_id) != api_id:
                continue
            method = ev.get("Method", "ANY")
            path = ev.get("Path", "$default")
            if path == "$default":
                method = "ANY"
            ev_auth = ev.get("Auth", {}) or {}
            authorizer = ev_auth.get("Authorizer", default_authorizer) or "NONE"
            if authorizer == "NONE":
                kind = "NONE"
            elif authorizer == "AWS_IAM":
                if not auth.get("EnableIamAuthorizer"):
                    raise TemplateError(f"{logical_id}: AWS_IAM needs EnableIamAuthorizer on {api_id}")
                kind = "AWS_IAM"
            elif authorizer in authorizers:
                kind = "JWT"
            else:
                raise TemplateError(f"{logical_id}: no authorizer {authorizer} on {api_id}")
            route = Route(method=method, path=path, function=binary, logical_id=logical_id,
                          auth=kind, authorizer=authorizer if kind == "JWT" else None,
                          scopes=tuple(ev_auth.get("AuthorizationScopes", ()) or ()))
            # Route-level settings override the stage's default, limit by limit.
            throttle = _throttle(api_route_settings.get(route.key), default_throttle)
            route.throttle = _throttle(ev.get("RouteSettings"), throttle)
            routes.append(route)
    keys = [r.key for r in routes]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise TemplateError(f"routes defined twice: {sorted(duplicates)}")
    routes.sort(key=Route.priority)
    access_log = (props.get("AccessLogSettings") or {}).get("Format")
    return Api(logical_id=api_id, routes=routes, cors=cors, authorizers=authorizers,
               access_log_format=access_log)


def function_logical_ids(template):
    """{binary: logical id} for every function of the template."""
    found = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            binary = (resource.get("Metadata", {}).get("BuildProperties", {}) or {}).get("Binary", logical_id)
            found[binary] = logical_id
    return found


# ---------------------------------------------------------------------------------------------
# Throttling: API Gateway's token bucket, one per route
# ---------------------------------------------------------------------------------------------

class TokenBucket:
    """Starts full (burst tokens), refills at `rate` per second up to `burst`; a request takes one
    token or is throttled (429)."""

    def __init__(self, throttle, clock=time.monotonic):
        self.rate = throttle.rate
        self.burst = throttle.burst
        self.clock = clock
        self.tokens = float(throttle.burst)
        self.updated = clock()
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            now = self.clock()
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


# ---------------------------------------------------------------------------------------------
# JWT: the local issuer, and the authorizer's checks
# ---------------------------------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class LocalIssuer:
    """An OpenID issuer for `make dev`: one RSA key (kept in .local/gateway/ so tokens survive a
    restart), its JWKS, its discovery document, and a dev-only token endpoint that signs a token
    for whatever e-mail it is asked. Never run this anywhere but a developer's machine."""

    def __init__(self, issuer, audience, key_file=None, lifetime=3600):
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.lifetime = lifetime
        self.key = self._load_or_create(key_file)
        public = self.key.public_key()
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = b64url(hashlib.sha256(der).digest())[:16]
        numbers = public.public_numbers()
        self.jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                    "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}

    @staticmethod
    def _load_or_create(key_file):
        if key_file and os.path.exists(key_file):
            with open(key_file, "rb") as f:
                return serialization.load_pem_private_key(f.read(), password=None)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if key_file:
            os.makedirs(os.path.dirname(key_file), exist_ok=True)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                f.write(pem)
        return key

    def jwks(self):
        return {"keys": [self.jwk]}

    def public_keys(self):
        return {self.kid: self.key.public_key()}

    def discovery(self):
        return {
            "issuer": self.issuer,
            "jwks_uri": self.issuer + "/.well-known/jwks.json",
            "token_endpoint": self.issuer + "/token",
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def sign(self, claims, header=None):
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid, **(header or {})}
        signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def token_for(self, request, now=None):
        """The token endpoint: {"email": …, "email_verified"?: true, "sub"?: …, "expires_in"?: s,
        any other claim to add or override (e.g. "aud", "exp" for a test of a refused token)}."""
        now = int(now if now is not None else time.time())
        email = request.get("email")
        if not isinstance(email, str) or not email:
            raise ValueError("email is required")
        lifetime = int(request.get("expires_in", self.lifetime))
        claims = {
            "iss": self.issuer, "aud": self.audience,
            "sub": "local|" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:20],
            "email": email, "email_verified": True,
            "iat": now, "nbf": now, "exp": now + lifetime,
        }
        claims.update({k: v for k, v in request.items() if k != "expires_in"})
        return {"access_token": self.sign(claims), "token_type": "Bearer", "expires_in": lifetime,
                "claims": claims}


class LocalUserPool(LocalIssuer):
    """A stand-in for a Cognito user pool of the template (an authorizer whose issuer is
    https://cognito-idp.<region>.amazonaws.com/<pool>): its issuer is this gateway's
    /local-cognito/<pool>, its app clients are the authorizer's audiences, and its users are
    DEV_USERS. It signs ID tokens shaped like Cognito's (token_use "id", aud = the client,
    email, email_verified, cognito:groups, cognito:username) and serves the hosted UI's
    endpoints a browser app uses: /oauth2/authorize (a page to pick a dev user, or straight back
    with login_hint), /oauth2/token (authorization_code with PKCE S256; CORS, as Cognito's) and
    /logout. Dev only, like LocalIssuer."""

    CODE_LIFETIME = 300

    def __init__(self, pool_id, issuer, clients, key_file=None, users=None, lifetime=3600):
        super().__init__(issuer, clients[0], key_file, lifetime)
        self.pool_id = pool_id
        self.clients = tuple(clients)
        self.users = dict(DEV_USERS if users is None else users)
        self.codes = {}
        self.lock = threading.Lock()

    def discovery(self):
        document = super().discovery()
        document.update({
            "authorization_endpoint": self.issuer + "/oauth2/authorize",
            "token_endpoint": self.issuer + "/oauth2/token",
            "end_session_endpoint": self.issuer + "/logout",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        })
        return document

    def id_token_claims(self, email, client, groups=None, now=None):
        now = int(now if now is not None else time.time())
        email = email.strip().lower()
        if groups is None:
            groups = self.users.get(email, [])
        claims = {
            "iss": self.issuer, "aud": client, "token_use": "id", "auth_time": now,
            "sub": "local-" + hashlib.sha256(email.encode()).hexdigest()[:20],
            "cognito:username": email, "email": email, "email_verified": True,
            "iat": now, "exp": now + self.lifetime,
        }
        if groups:
            claims["cognito:groups"] = list(groups)  # Cognito leaves it out for no group
        return claims

    def token_for(self, request, now=None):
        """The dev shortcut (POST /local-cognito/<pool>/token): {"email": …, "cognito:groups"?:
        […] (default: the dev user's), "client_id"?: …, any other claim to add or override}."""
        email = request.get("email")
        if not isinstance(email, str) or not email:
            raise ValueError("email is required")
        client = request.get("client_id", self.clients[0])
        claims = self.id_token_claims(email, client, request.get("cognito:groups"), now)
        claims.update({k: v for k, v in request.items() if k not in ("client_id", "email")})
        token = self.sign(claims)
        return {"id_token": token, "access_token": token, "token_type": "Bearer",
                "expires_in": self.lifetime, "claims": claims}

    def authorize(self, params):
        """(status, headers, body) for GET /oauth2/authorize."""
        client = params.get("client_id")
        redirect = params.get("redirect_uri", "")
        if client not in self.clients:
            return 400, {}, f"unknown client_id {client!r}"
        if params.get("response_type") != "code":
            return 400, {}, "response_type must be code"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return 400, {}, "PKCE is required: code_challenge with code_challenge_method S256"
        if not re.match(r"^http://(127\.0\.0\.1|localhost)(:\d+)?/", redirect):
            return 400, {}, "redirect_uri must be on this machine (http://127.0.0.1:…/ or http://localhost:…/)"
        user = (params.get("login_hint") or "").strip().lower()
        if user not in self.users:
            links = "".join(
                f'<li><a href="?{html.escape(urlencode({**params, "login_hint": email}))}">{html.escape(email)}</a>'
                f' ({html.escape(", ".join(groups) or "no group")})</li>'
                for email, groups in self.users.items())
            page = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in (local)</title>"
                    "</head><body><h1>Sign in as a dev user</h1><p>The local stand-in for the board's Cognito "
                    f"user pool ({html.escape(self.pool_id)}): no passwords.</p><ul>{links}</ul></body></html>")
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {"client": client, "redirect": redirect, "email": user,
                                "challenge": params["code_challenge"], "at": time.time()}
        query = {"code": code}
        if params.get("state") is not None:
            query["state"] = params["state"]
        separator = "&" if "?" in redirect else "?"
        return 302, {"Location": redirect + separator + urlencode(query)}, ""

    def exchange(self, form, now=None):
        """POST /oauth2/token: (status, JSON) for grant_type=authorization_code, as Cognito answers
        it: 400 {"error": "invalid_grant"} for a used, expired or mismatched code or verifier."""
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)
        now = now if now is not None else time.time()
        if grant is None or now - grant["at"] > self.CODE_LIFETIME:
            return 400, {"error": "invalid_grant"}
        if form.get("client_id") != grant["client"] or form.get("redirect_uri") != grant["redirect"]:
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
            return 400, {"error": "invalid_grant"}
        token = self.sign(self.id_token_claims(grant["email"], grant["client"], now=now))
        return 200, {"id_token": token, "access_token": token, "token_type": "Bearer",
                     "expires_in": self.lifetime}


def local_user_pools(api, template, base, state_dir=None):
    """Each JWT authorizer whose issuer is a Cognito user pool of the template gets a local pool
    at <base>/local-cognito/<pool> and takes it as its issuer. {pool id: LocalUserPool}."""
    resources = template.get("Resources", {})
    pools = {}
    for authorizer in api.authorizers.values():
        found = COGNITO_ISSUER.match(authorizer.issuer)
        if not found or resources.get(found.group(1), {}).get("Type") != "AWS::Cognito::UserPool":
            continue
        pool_id = found.group(1)
        if pool_id not in pools:
            key = os.path.join(state_dir, f"{pool_id}-key.pem") if state_dir else None
            pools[pool_id] = LocalUserPool(pool_id, f"{base}{COGNITO_PATH}/{pool_id}",
                                           list(authorizer.audiences), key)
        authorizer.issuer = pools[pool_id].issuer
    return pools


class Unauthorized(Exception):
    """The JWT authorizer refused the token (API Gateway answers 401, the reason goes to the
    access log's $context.authorizer.error)."""


def verify_jwt(token, keys, issuer, audiences, scopes=(), now=None, leeway=0):
    """API Gateway's JWT authorizer checks, in its order: RS256 signature with the key of the
    header's kid; iss; aud (or client_id); exp; nbf; the route's scopes. Returns the claims."""
    now = now if now is not None else time.time()
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("the token is not a JWT")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, json.JSONDecodeError) as e:
        raise Unauthorized(f"the token does not decode: {e}") from None
    if not isinstance(claims, dict):
        raise Unauthorized("the token's claims are not an object")
    if header.get("alg") != "RS256":
        raise Unauthorized(f"algorithm {header.get('alg')!r} is not RS256")
    key = keys.get(header.get("kid"))
    if key is None:
        raise Unauthorized(f"no key {header.get('kid')!r} in the issuer's JWKS")
    try:
        key.verify(signature, (parts[0] + "." + parts[1]).encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise Unauthorized("the signature does not verify") from None
    if claims.get("iss") != issuer:
        raise Unauthorized(f"iss {claims.get('iss')!r} is not {issuer!r}")
    aud = claims.get("aud", claims.get("client_id"))
    auds = aud if isinstance(aud, list) else [aud]
    if not any(a in audiences for a in auds):
        raise Unauthorized(f"aud {aud!r} is not one of {list(audiences)}")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp <= now - leeway:
        raise Unauthorized("the token has expired" if isinstance(exp, (int, float)) else "the token has no exp")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, (int, float)) or nbf > now + leeway):
        raise Unauthorized("the token is not valid yet (nbf)")
    if scopes:
        granted = set(str(claims.get("scope", claims.get("scp", ""))).split())
        if not granted.intersection(scopes):
            raise Unauthorized(f"the token has none of the scopes {list(scopes)}")
    return claims


def claim_string(value):
    """A claim as API Gateway's HTTP API passes it in payload 2.0: every value a string; a list
    as "[a b]" and an object as "map[k:v]" (the Go rendering API Gateway produces, e.g.
    "cognito:groups": "[admin]"); numbers without an exponent or a trailing .0."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return "[" + " ".join(claim_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{claim_string(v)}" for k, v in sorted(value.items())) + "]"
    return "" if value is None else str(value)


def jwt_authorizer_context(claims, route):
    granted = str(claims.get("scope", claims.get("scp", ""))).split()
    return {"jwt": {"claims": {k: claim_string(v) for k, v in claims.items()},
                    "scopes": granted if route.scopes else None}}


def bearer_token(header):
    """The identity source's token: the whole header, or what follows "Bearer "."""
    if not header:
        return None
    header = header.strip()
    if header.lower() == "bearer":
        return None
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return header


# ---------------------------------------------------------------------------------------------
# AWS_IAM: the caller identity of a SigV4-signed request
# ---------------------------------------------------------------------------------------------

SIGV4 = re.compile(r"^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/[^,]*,\s*SignedHeaders=[^,]+,\s*Signature=[0-9a-fA-F]+\s*$")


def sigv4_access_key(authorization, query=None):
    """The access key id of a SigV4 Authorization header (or presigned query), else None. The
    signature itself is not checked locally: there are no real secrets to check it against."""
    found = SIGV4.match(authorization or "")
    if found:
        return found.group(1)
    credential = (query or {}).get("X-Amz-Credential")
    if credential and (query or {}).get("X-Amz-Signature"):
        return credential.split("/", 1)[0]
    return None


def iam_authorizer_context(access_key):
    # The shape API Gateway passes for AWS_IAM (tests/support's iam_request): a caller id and the
    # user's ARN, here named after the access key so each local caller is told apart.
    caller = "AIDA" + hashlib.sha256(access_key.encode()).hexdigest()[:17].upper()
    return {"iam": {
        "accessKey": access_key, "accountId": ACCOUNT_ID, "callerId": caller,
        "cognitoIdentity": None, "principalOrgId": None,
        "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/{access_key}", "userId": caller,
    }}


# ---------------------------------------------------------------------------------------------
# Payload format 2.0: the event a function receives, and its answer back into HTTP
# ---------------------------------------------------------------------------------------------

TEXT_TYPES = re.compile(r"^(text/|application/(json|.*\+json|xml|.*\+xml|x-www-form-urlencoded|javascript))", re.I)


def encode_body(body, content_type):
    """(body, isBase64Encoded): text as text, anything else (or bytes that are not UTF-8) in
    base64, so that a webhook's signature over the raw bytes still verifies."""
    if not body:
        return None, False
    if content_type is None or TEXT_TYPES.match(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode(), True


def request_time(now):
    return datetime.fromtimestamp(now, timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")


def request_id():
    # API Gateway's look: 16 characters of base64, e.g. "JKJaXmPLvHcESHA=".
    return base64.b64encode(secrets.token_bytes(10)).decode()


def build_event(*, method, raw_path, raw_query, headers, body, source_ip, route_key="$default",
                path_parameters=None, authorizer=None, request_id_value=None, now=None,
                api_id="local", domain_name=None, account_id=ACCOUNT_ID, local_port=None):
    """The payload 2.0 event API Gateway (or a function URL: same format, routeKey $default, no
    authorizer) sends. `headers` is a list of (name, value) as received: names are lowercased,
    repeated headers joined with commas, cookies moved to `cookies`."""
    now = now if now is not None else time.time()
    merged = {}
    cookies = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        merged[name] = merged[name] + "," + value if name in merged else value
    forwarded = merged.get("x-forwarded-for")
    merged["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    merged["x-forwarded-proto"] = "http"
    if local_port is not None:
        merged["x-forwarded-port"] = str(local_port)
    merged.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{secrets.token_hex(12)}")
    host = merged.get("host", "localhost")
    domain = domain_name or host.split(":")[0]
    query = {}
    for key, value in parse_qsl(raw_query or "", keep_blank_values=True):
        query[key] = query[key] + "," + value if key in query else value
    body_text, is_base64 = encode_body(body, merged.get("content-type"))
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query or "",
        "headers": merged,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method.upper(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id_value or request_id(),
            "routeKey": route_key,
            "stage": "$default",
            "time": request_time(now),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_base64,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if body_text is not None:
        event["body"] = body_text
    return event


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade",
              "proxy-connection", "te", "trailer"}


def decode_response(payload):
    """(status, [(header, value)], body bytes) from a function's payload 2.0 answer. Like API
    Gateway, an answer without statusCode is taken as a 200 JSON body."""
    try:
        answer = json.loads(payload) if payload else None
    except json.JSONDecodeError:
        return 200, [("content-type", "application/json")], payload
    if not (isinstance(answer, dict) and "statusCode" in answer):
        body = payload if not isinstance(answer, str) else answer.encode()
        return 200, [("content-type", "application/json")], body
    headers = []
    for name, value in (answer.get("headers") or {}).items():
        if name.lower() not in HOP_BY_HOP:
            headers.append((name.lower(), str(value)))
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        if name.lower() not in HOP_BY_HOP:
            headers += [(name.lower(), str(v)) for v in values]
    headers += [("set-cookie", c) for c in answer.get("cookies") or []]
    body = answer.get("body") or ""
    body = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
    return int(answer["statusCode"]), headers, body


def access_log_line(fmt, context):
    """The template's AccessLogSettings.Format with its $context variables filled in."""
    return re.sub(r"\$context\.([A-Za-z0-9_.]+)", lambda m: str(context.get(m.group(1), "-")), fmt)


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------

class Gateway:
    """Everything the request handler needs: the API, the issuer, the buckets, where watch is."""

    def __init__(self, api, issuer, watch, access_log=None, port=9000, pools=None):
        self.api = api
        self.issuer = issuer
        self.pools = pools or {}
        watch = urlsplit(watch)
        self.watch_host, self.watch_port = watch.hostname, watch.port or 80
        self.port = port
        self.buckets = {r.key: TokenBucket(r.throttle) for r in api.routes if r.throttle}
        self.access_log = access_log
        self.log_lock = threading.Lock()
        self.jwt_keys = {}

    def keys_for(self, authorizer):
        """The public keys of an authorizer's issuer: the local issuer's own, or (another issuer)
        fetched from its discovery document once, as API Gateway caches them."""
        if self.issuer and authorizer.issuer == self.issuer.issuer:
            return self.issuer.public_keys()
        for pool in self.pools.values():
            if authorizer.issuer == pool.issuer:
                return pool.public_keys()
        if authorizer.issuer not in self.jwt_keys:
            self.jwt_keys[authorizer.issuer] = fetch_jwks(authorizer.issuer)
        return self.jwt_keys[authorizer.issuer]

    def invoke(self, function, event):
        """(status, body) of watch's Lambda invoke API: 200 and the function's answer, or the
        error watch reports (500 with the function's error, 404 for an unknown function)."""
        connection = http.client.HTTPConnection(self.watch_host, self.watch_port)
        try:
            connection.request("POST", f"/2015-03-31/functions/{function}/invocations",
                               body=json.dumps(event).encode(),
                               headers={"content-type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read()
        except OSError as e:
            # watch is not answering (stopped, restarting): the integration failed.
            return 503, f"cargo lambda watch at {self.watch_host}:{self.watch_port}: {e}".encode()
        finally:
            connection.close()

    def log_access(self, context):
        if not (self.access_log and self.api.access_log_format):
            return
        line = access_log_line(self.api.access_log_format, context)
        with self.log_lock, open(self.access_log, "a") as f:
            f.write(line + "\n")


def fetch_jwks(issuer):
    import urllib.request
    with urllib.request.urlopen(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=10) as r:
        jwks_uri = json.load(r)["jwks_uri"]
    with urllib.request.urlopen(jwks_uri, timeout=10) as r:
        keys = json.load(r)["keys"]
    found = {}
    for jwk in keys:
        if jwk.get("kty") == "RSA":
            n = int.from_bytes(b64url_decode(jwk["n"]), "big")
            e = int.from_bytes(b64url_decode(jwk["e"]), "big")
            found[jwk.get("kid")] = rsa.RSAPublicNumbers(e, n).public_key()
    return found


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length
    server_version = "local-api-gateway"
    gateway: Gateway = None
    quiet = False

    def log_message(self, fmt, *args):
        pass  # one line per request is written by `log` below

    def log(self, text):
        if not self.quiet:
            # One write per line: print() writes the text and the newline apart, and concurrent
            # requests' lines then run into each other.
            sys.stderr.write(f"[gateway] {self.client_address[0]} {self.command} {self.path} {text}\n")
            sys.stderr.flush()

    # --- reading and answering -------------------------------------------------------------

    def read_body(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, headers, body, extra=None):
        self.send_response(status)
        sent = set()
        for name, value in list(headers) + list((extra or {}).items()):
            self.send_header(name, value)
            sent.add(name.lower())
        if "content-type" not in sent and body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def message(self, status, text, extra=None):
        self.answer(status, [("content-type", "application/json")],
                    json.dumps({"message": text}).encode(), extra)

    def json(self, status, value, extra=None):
        self.answer(status, [("content-type", "application/json")], json.dumps(value).encode(), extra)

    # --- dispatch ----------------------------------------------------------------------------

    def handle_any(self):
        url = urlsplit(self.path)
        path = url.path or "/"
        body = self.read_body()
        if path.startswith("/lambda-url/"):
            return self.function_url(path, url.query, body)
        if path.startswith("/2015-03-31/functions/"):
            return self.passthrough(body)
        if path in (ISSUER_PATH + "/.well-known/openid-configuration", "/.well-known/openid-configuration"):
            return self.json(200, self.gateway.issuer.discovery())
        if path in (ISSUER_PATH + "/.well-known/jwks.json", "/.well-known/jwks.json"):
            return self.json(200, self.gateway.issuer.jwks())
        if path == ISSUER_PATH + "/token" and self.command == "POST":
            return self.token(body)
        if path.startswith(COGNITO_PATH + "/"):
            return self.cognito(path, url.query, body)
        return self.api_route(path, url.query, body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = handle_any

    def token(self, body):
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("send a JSON object")
            answer = self.gateway.issuer.token_for(request)
        except (ValueError, TypeError) as e:
            return self.json(400, {"error": "invalid_request", "error_description": str(e)})
        self.log(f"-> dev token for {request.get('email')}")
        self.json(200, answer)

    def cognito(self, path, query, body):
        """/local-cognito/<pool>/…: the local stand-in of a Cognito user pool (LocalUserPool)."""
        _, _, rest = path.partition(COGNITO_PATH + "/")
        pool_id, _, endpoint = rest.partition("/")
        pool = self.gateway.pools.get(pool_id)
        if pool is None:
            return self.message(404, "Not Found")
        # Cognito's token endpoint answers browsers from any origin (a public client's PKCE flow).
        cors = {"Access-Control-Allow-Origin": "*"}
        if self.command == "OPTIONS":
            return self.answer(204, [], b"", {**cors, "Access-Control-Allow-Methods": "POST, OPTIONS",
                                              "Access-Control-Allow-Headers": "content-type, authorization",
                                              "Access-Control-Max-Age": "600"})
        if endpoint == ".well-known/openid-configuration":
            return self.json(200, pool.discovery())
        if endpoint == ".well-known/jwks.json":
            return self.json(200, pool.jwks())
        if endpoint == "token" and self.command == "POST":
            try:
                request = json.loads(body or b"{}")
                if not isinstance(request, dict):
                    raise ValueError("send a JSON object")
                answer = pool.token_for(request)
            except (ValueError, TypeError) as e:
                return self.json(400, {"error": "invalid_request", "error_description": str(e)})
            self.log(f"-> dev ID token for {request.get('email')} ({pool_id})")
            return self.json(200, answer, cors)
        if endpoint == "oauth2/authorize" and self.command == "GET":
            params = {k: v[0] for k, v in parse_qs(query or "", keep_blank_values=True).items()}
            status, headers, page = pool.authorize(params)
            self.log(f"-> authorize {status} ({params.get('login_hint') or 'no login_hint'})")
            return self.answer(status, list(headers.items()) or [("Content-Type", "text/plain; charset=utf-8")],
                               page.encode())
        if endpoint == "oauth2/token" and self.command == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace"), keep_blank_values=True).items()}
            status, answer = pool.exchange(form)
            self.log(f"-> token exchange {status}")
            return self.json(status, answer, cors)
        if endpoint == "logout" and self.command == "GET":
            params = {k: v[0] for k, v in parse_qs(query or "").items()}
            target = params.get("logout_uri", "")
            if params.get("client_id") not in pool.clients or not target:
                return self.message(400, "client_id and logout_uri are required")
            return self.answer(302, [("Location", target)], b"")
        return self.message(404, "Not Found")

    def passthrough(self, body):
        """cargo lambda invoke / make invoke: watch's own invoke API, unchanged."""
        gw = self.gateway
        connection = http.client.HTTPConnection(gw.watch_host, gw.watch_port)
        try:
            connection.request(self.command, self.path, body=body,
                               headers={"content-type": self.headers.get("content-type", "application/json")})
            response = connection.getresponse()
            payload = response.read()
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        except OSError as e:
            self.log(f"-> cargo lambda watch does not answer: {e}")
            return self.message(502, "Bad Gateway")
        finally:
            connection.close()
        self.answer(response.status, headers, payload)

    def function_url(self, path, query, body):
        """/lambda-url/<function>/<path>: the function's URL, as watch maps it (the path after the
        name is the request path), with the caller's address as sourceIp. In AWS a function URL
        has its own host, its own CORS (none here) and no throttle but the function's."""
        _, _, rest = path.partition("/lambda-url/")
        function, _, tail = rest.partition("/")
        if not function:
            return self.message(404, "Not Found")
        started = time.time()
        url_id = "local" + hashlib.sha256(function.encode()).hexdigest()[:27]
        event = build_event(
            method=self.command, raw_path="/" + tail, raw_query=query, headers=self.headers.items(),
            body=body, source_ip=self.client_address[0], now=started, api_id=url_id,
            domain_name=f"{url_id}.lambda-url.{REGION}.on.aws", account_id="anonymous",
            local_port=self.gateway.port)
        status, payload = self.gateway.invoke(function, event)
        if status != 200:
            self.log(f"-> {function} failed ({status}): {payload[:300]!r}")
            # A function URL answers 502 when the function fails; watch's 404 (no such
            # function) is passed on.
            if status == 404:
                return self.answer(404, [("content-type", "application/json")], payload)
            return self.message(502, "Internal Server Error")
        code, headers, out = decode_response(payload)
        self.log(f"-> {function} {code} ({(time.time() - started) * 1000:.0f} ms)")
        self.answer(code, headers, out)

    def api_route(self, path, query, body):
        gw = self.gateway
        api = gw.api
        started = time.time()
        rid = request_id()
        origin = self.headers.get("origin")
        context = {"requestId": rid, "identity.sourceIp": self.client_address[0],
                   "requestTime": request_time(started), "routeKey": "-", "status": "-",
                   "responseLatency": "-", "integrationStatus": "-",
                   "integrationErrorMessage": "-", "authorizer.error": "-"}
        cors = api.cors
        extra = {"apigw-requestid": rid}
        cors_headers = cors.response_headers(origin) if cors else {}

        def finish(status, send):
            context["status"] = status
            context["responseLatency"] = int((time.time() - started) * 1000)
            # Logged before the answer goes out, so that a client that has its answer finds
            # the line (written after, the e2e test sometimes read the log first).
            gw.log_access(context)
            send()

        # A CORS preflight is answered by API Gateway itself, for any path, before any route,
        # authorizer or throttle (even where no OPTIONS route exists).
        if (cors and self.command == "OPTIONS" and origin
                and self.headers.get("access-control-request-method")):
            allowed = cors.preflight(origin, self.headers["access-control-request-method"],
                                     self.headers.get("access-control-request-headers"))
            self.log(f"-> preflight {'allowed' if allowed else 'refused'} for {origin}")
            context["routeKey"] = "-"
            return finish(204, lambda: self.answer(204, [], b"", {**extra, **(allowed or {})}))

        route, params = api.match(self.command, path)
        if route is None:
            self.log("-> 404 (no route)")
            return finish(404, lambda: self.message(404, "Not Found", {**extra, **cors_headers}))
        context["routeKey"] = route.key

        bucket = gw.buckets.get(route.key)
        if bucket and not bucket.take():
            self.log(f"-> 429 ({route.key}: over {route.throttle.rate:g}/s, burst {route.throttle.burst})")
            return finish(429, lambda: self.message(429, "Too Many Requests", {**extra, **cors_headers}))

        authorizer_context = None
        if route.auth == "JWT":
            authorizer = api.authorizers[route.authorizer]
            header = authorizer.identity_source.rsplit(".", 1)[-1]
            token = bearer_token(self.headers.get(header))
            try:
                if not token:
                    raise Unauthorized(f"no token in {authorizer.identity_source}")
                claims = verify_jwt(token, gw.keys_for(authorizer), authorizer.issuer,
                                    authorizer.audiences, route.scopes)
            except Unauthorized as e:
                context["authorizer.error"] = str(e)
                self.log(f"-> 401 ({e})")
                return finish(401, lambda: self.message(401, "Unauthorized", {**extra, **cors_headers}))
            authorizer_context = jwt_authorizer_context(claims, route)
        elif route.auth == "AWS_IAM":
            access_key = sigv4_access_key(self.headers.get("authorization"), dict(parse_qsl(query or "")))
            if not access_key:
                context["authorizer.error"] = "no SigV4 signature"
                self.log("-> 403 (no SigV4 signature)")
                return finish(403, lambda: self.message(403, "Forbidden", {**extra, **cors_headers}))
            authorizer_context = iam_authorizer_context(access_key)

        event = build_event(
            method=self.command, raw_path=path, raw_query=query, headers=self.headers.items(),
            body=body, source_ip=self.client_address[0], route_key=route.key,
            path_parameters=params or None, authorizer=authorizer_context, request_id_value=rid,
            now=started, api_id=api.logical_id.lower(), local_port=gw.port)
        status, payload = gw.invoke(route.function, event)
        context["integrationStatus"] = status
        if status != 200:
            context["integrationErrorMessage"] = payload[:200].decode(errors="replace").replace('"', "'")
            self.log(f"-> {route.function} failed ({status}): {payload[:300]!r}")
            return finish(500, lambda: self.message(500, "Internal Server Error", {**extra, **cors_headers}))
        code, headers, out = decode_response(payload)
        if cors:
            # With a CORS configuration, API Gateway ignores the integration's CORS headers.
            headers = [(k, v) for k, v in headers if not k.startswith("access-control-")]
        self.log(f"-> {route.function} {code} ({(time.time() - started) * 1000:.0f} ms)")
        finish(code, lambda: self.answer(code, headers, out, {**extra, **cors_headers}))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a burst of concurrent clients must reach the throttle, not the backlog


# The widget's other origins under make dev (the template's WidgetOrigins): the landing page's
# server under its other name, as a site's www. and bare domain both embed the widget; the
# browser test's plain page (docs/widget.md's snippet) is served from there. WIDGET_ORIGINS in
# .env.dev (comma-separated) or --parameter WidgetOrigins=… replaces it.
LOCAL_WIDGET_ORIGINS = "http://localhost:8080"


def local_parameters(env_file, issuer, audience, overrides):
    """The template's parameters as make dev sets them: the landing origin from .env.dev (what
    the functions themselves allow), the widget's other origins (WIDGET_ORIGINS in .env.dev, or
    LOCAL_WIDGET_ORIGINS), the local issuer and audience for the JWT authorizer, then any
    --parameter."""
    values = {"JwtIssuer": issuer, "JwtAudience": audience, "WidgetOrigins": LOCAL_WIDGET_ORIGINS}
    env = {}
    if env_file and os.path.exists(env_file):
        with open(env_file) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, value = line.split("=", 1)
                    env[key.strip()] = value.strip()
    if env.get("LANDING_ORIGIN"):
        values["LandingOrigin"] = env["LANDING_ORIGIN"]
        # The landing server on another port (LANDING_PORT): its other name on that port.
        other = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", env["LANDING_ORIGIN"])
        if other:
            values["WidgetOrigins"] = f"http://localhost:{other.group(1)}"
    if "WIDGET_ORIGINS" in env:
        values["WidgetOrigins"] = env["WIDGET_ORIGINS"]
    values.update(overrides)
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--watch", default="http://127.0.0.1:9001", help="cargo lambda watch's invoke address")
    parser.add_argument("--template", default=TEMPLATE)
    parser.add_argument("--env-file", default=os.path.join(ROOT, ".env.dev"))
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a template parameter's local value (e.g. AppOrigin=http://127.0.0.1:3000)")
    parser.add_argument("--state", default=os.path.join(ROOT, ".local", "gateway"),
                        help="where the issuer's key is kept")
    parser.add_argument("--access-log", help="write the template's access log format here")
    parser.add_argument("--print-routes", action="store_true", help="print the route table and exit")
    args = parser.parse_args()

    base = f"http://{args.host}:{args.port}"
    issuer_url = base + ISSUER_PATH
    overrides = dict(p.split("=", 1) for p in args.parameter)
    parameters = local_parameters(args.env_file, issuer_url, LOCAL_AUDIENCE, overrides)
    try:
        api = build_api(load_template(args.template), parameters)
    except TemplateError as e:
        sys.exit(f"gateway: {args.template}: {e}")

    if args.print_routes:
        for route in api.routes:
            auth = {"NONE": "", "JWT": f"JWT ({route.authorizer})", "AWS_IAM": "AWS_IAM"}[route.auth]
            limit = f"{route.throttle.rate:g}/s burst {route.throttle.burst}" if route.throttle else "-"
            print(f"{route.key:<34} {route.function:<18} {auth:<14} {limit}")
        return

    pools = local_user_pools(api, load_template(args.template), base, args.state)
    issuer = LocalIssuer(issuer_url, LOCAL_AUDIENCE, os.path.join(args.state, "issuer-key.pem"))
    Handler.gateway = Gateway(api, issuer, args.watch, args.access_log, args.port, pools)
    server = Server((args.host, args.port), Handler)
    print(f"[gateway] {base}: {len(api.routes)} routes of {api.logical_id}, /lambda-url/<function>/ "
          f"→ cargo lambda watch at {args.watch}; issuer {issuer_url}", file=sys.stderr, flush=True)
    if api.cors:
        print(f"[gateway] CORS: {', '.join(api.cors.allow_origins)}", file=sys.stderr, flush=True)
    for pool in pools.values():
        print(f"[gateway] Cognito user pool {pool.pool_id} stands in at {pool.issuer} (clients "
              f"{', '.join(pool.clients)}; dev users {', '.join(pool.users)})", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
