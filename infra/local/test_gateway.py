"""Tests of the local API gateway (infra/local/gateway.py): the route table it reads from
infra/template.yaml, CORS decisions, the JWT authorizer, IAM, the payload 2.0 events it builds,
the throttle, and — through a real gateway in front of a stub of cargo lambda watch — that clients
on 127.0.0.2 and 127.0.0.3 reach the functions with their own sourceIp.

    .venv/bin/python -m unittest infra/local/test_gateway.py
"""

import base64
import http.client
import json
import os
import sys
import threading
import time
import tomllib
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gateway  # noqa: E402

LANDING = "http://127.0.0.1:8080"
ISSUER = "http://127.0.0.1:9000/local-issuer"


def template():
    return gateway.load_template()


def local_api(**parameters):
    values = {"LandingOrigin": LANDING, "JwtIssuer": ISSUER, "JwtAudience": gateway.LOCAL_AUDIENCE}
    values.update(parameters)
    return gateway.build_api(template(), values)


class TemplateTest(unittest.TestCase):
    def test_short_form_tags_parse_as_long_forms(self):
        t = template()
        api = t["Resources"]["SalesApi"]["Properties"]
        self.assertEqual(api["CorsConfiguration"]["AllowOrigins"]["Fn::Split"][0], ",")
        self.assertEqual(t["Resources"]["SalesApi"]["Properties"]["AccessLogSettings"]["DestinationArn"],
                         {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]})

    def test_the_route_table_is_the_templates_http_api_events(self):
        api = local_api()
        routes = {r.key: r for r in api.routes}
        self.assertEqual(set(routes), {
            "GET /billing/founding-spots", "POST /billing/create-checkout",
            "POST /billing/customer-portal", "GET /pipeline/summary", "GET /pipeline/leads",
            "POST /pipeline/leads", "GET /pipeline/leads/{lead_id}", "PATCH /pipeline/leads/{lead_id}",
            "GET /founding/members", "GET /founding/waitlist", "GET /founding/holds", "GET /founding/spots",
            "POST /founding/waitlist/{email}/offer", "POST /founding/waitlist/{email}/skip",
            "POST /founding/holds/{spot}/release",
            "GET /board/api/pipeline/summary", "GET /board/api/pipeline/leads",
            "GET /board/api/pipeline/leads/{lead_id}", "PATCH /board/api/pipeline/leads/{lead_id}",
            "GET /board/api/founding/members", "GET /board/api/founding/waitlist",
            "GET /board/api/founding/holds",
        })
        self.assertEqual(routes["GET /billing/founding-spots"].function, "founding-spots")
        self.assertEqual(routes["GET /billing/founding-spots"].auth, "NONE")
        portal = routes["POST /billing/customer-portal"]
        self.assertEqual((portal.function, portal.auth, portal.authorizer), ("customer-portal", "JWT", "AppJwt"))
        for key, route in routes.items():
            if key.split()[1].startswith(("/pipeline/", "/founding/")):
                self.assertEqual((route.function, route.auth), ("pipeline", "AWS_IAM"), key)
            if key.split()[1].startswith("/board/api/"):
                self.assertEqual((route.function, route.auth, route.authorizer), ("pipeline", "JWT", "BoardJwt"), key)
                # The board's routes are the IAM routes again, under /board/api.
                self.assertIn(key.replace("/board/api", ""), routes)

    def test_throttles_are_the_default_route_settings_unless_the_route_overrides_them(self):
        routes = {r.key: r for r in local_api().routes}
        self.assertEqual(routes["POST /billing/create-checkout"].throttle, gateway.Throttle(rate=5, burst=10))
        self.assertEqual(routes["GET /billing/founding-spots"].throttle, gateway.Throttle(rate=50, burst=100))
        self.assertEqual(routes["GET /pipeline/summary"].throttle, gateway.Throttle(rate=50, burst=100))

    def test_the_jwt_authorizer_takes_the_local_issuer_and_audience(self):
        authorizer = local_api().authorizers["AppJwt"]
        self.assertEqual(authorizer.issuer, ISSUER)
        self.assertEqual(authorizer.audiences, (gateway.LOCAL_AUDIENCE,))
        self.assertEqual(authorizer.identity_source, "$request.header.Authorization")

    def test_cors_comes_from_the_parameters_and_the_condition(self):
        cors = local_api().cors
        # The board's origin is its CloudFront distribution's (a placeholder locally, where the
        # board is served on the landing origin).
        BOARD = "https://WidgetDistribution.DomainName"
        self.assertEqual(cors.allow_origins, (LANDING, BOARD))
        self.assertEqual(cors.allow_methods, ("GET", "POST", "PATCH", "OPTIONS"))
        self.assertEqual(cors.allow_headers, ("authorization", "content-type"))
        self.assertEqual(cors.max_age, 600)
        with_app = local_api(AppOrigin="http://127.0.0.1:3000").cors
        self.assertEqual(with_app.allow_origins, (LANDING, "http://127.0.0.1:3000", BOARD))
        # WidgetOrigins: a list of origins besides the landing page (and the app's, when given).
        widgets = "https://www.example.com,https://example.com"
        self.assertEqual(local_api(WidgetOrigins=widgets).cors.allow_origins,
                         (LANDING, "https://www.example.com", "https://example.com", BOARD))
        both = local_api(AppOrigin="http://127.0.0.1:3000", WidgetOrigins="https://www.example.com").cors
        self.assertEqual(both.allow_origins, (LANDING, "http://127.0.0.1:3000", "https://www.example.com", BOARD))
        self.assertTrue(both.origin_allowed("https://www.example.com"))
        self.assertFalse(both.origin_allowed("https://evil.example"))
        for bad in ("https://a.example/path", "https://a.example, https://b.example", "a.example"):
            with self.assertRaisesRegex(gateway.TemplateError, "AllowedPattern"):
                local_api(WidgetOrigins=bad)

    def test_parameters_are_checked_as_cloudformation_checks_them(self):
        with self.assertRaisesRegex(gateway.TemplateError, "JwtIssuer has no default"):
            gateway.build_api(template(), {"JwtAudience": "x"})
        with self.assertRaisesRegex(gateway.TemplateError, "AllowedPattern"):
            local_api(LandingOrigin="http://127.0.0.1:8080/path")
        with self.assertRaisesRegex(gateway.TemplateError, "no parameter"):
            local_api(Nope="1")

    def test_local_parameters_take_the_landing_origin_from_env_dev(self):
        path = os.path.join(os.path.dirname(__file__), "..", "..", "target", "test-gateway.env")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("# comment\nLANDING_ORIGIN=http://localhost:3000\n")
        values = gateway.local_parameters(path, ISSUER, "aud", {"AppOrigin": "http://a.test"})
        self.assertEqual(values, {"JwtIssuer": ISSUER, "JwtAudience": "aud",
                                  "LandingOrigin": "http://localhost:3000", "AppOrigin": "http://a.test",
                                  "WidgetOrigins": gateway.LOCAL_WIDGET_ORIGINS})
        with open(path, "a") as f:
            f.write("WIDGET_ORIGINS=https://www.a.test,https://a.test\n")
        values = gateway.local_parameters(path, ISSUER, "aud", {})
        self.assertEqual(values["WidgetOrigins"], "https://www.a.test,https://a.test")

    def test_matching_path_parameters_methods_and_404(self):
        api = local_api()
        route, params = api.match("GET", "/pipeline/leads/lead_123")
        self.assertEqual((route.key, params), ("GET /pipeline/leads/{lead_id}", {"lead_id": "lead_123"}))
        self.assertEqual(api.match("PATCH", "/pipeline/leads/lead_123")[0].key, "PATCH /pipeline/leads/{lead_id}")
        self.assertEqual(api.match("GET", "/pipeline/leads")[0].key, "GET /pipeline/leads")
        self.assertEqual(api.match("GET", "/billing/create-checkout"), (None, None))  # wrong method
        self.assertEqual(api.match("GET", "/pipeline/leads/a/b"), (None, None))
        self.assertEqual(api.match("GET", "/nowhere"), (None, None))

    def test_the_most_specific_route_wins_and_default_catches_the_rest(self):
        t = {"Parameters": {}, "Resources": {
            "Api": {"Type": "AWS::Serverless::HttpApi", "Properties": {}},
            "F": {"Type": "AWS::Serverless::Function", "Properties": {"Events": {
                "Greedy": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "Api"}, "Method": "ANY", "Path": "/files/{proxy+}"}},
                "One": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "Api"}, "Method": "GET", "Path": "/files/{name}"}},
                "Exact": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "Api"}, "Method": "GET", "Path": "/files/readme"}},
                "Default": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "Api"}}},
            }}}}}
        api = gateway.build_api(t, {})
        self.assertEqual(api.match("GET", "/files/readme")[0].key, "GET /files/readme")
        self.assertEqual(api.match("GET", "/files/x")[0].key, "GET /files/{name}")
        self.assertEqual(api.match("POST", "/files/x"), (api.routes[2], {"proxy": "x"}))
        self.assertEqual(api.match("GET", "/files/a/b")[1], {"proxy": "a/b"})
        self.assertEqual(api.match("DELETE", "/other")[0].key, "$default")
        self.assertIsNone(api.routes[0].throttle)  # no route settings: not throttled

    def test_every_function_signs_locally_with_its_own_access_key_id(self):
        # make dev: [package.metadata.lambda.watch.env] of functions/<binary>/Cargo.toml gives each
        # function the key id local-<its logical id>, which the local IAM check maps to its policy.
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        for binary, logical_id in gateway.function_logical_ids(template()).items():
            with open(os.path.join(root, "functions", binary, "Cargo.toml"), "rb") as f:
                manifest = tomllib.load(f)
            env = manifest["package"]["metadata"]["lambda"]["watch"]["env"]
            self.assertEqual(env, {"AWS_ACCESS_KEY_ID": f"local-{logical_id}"}, binary)


class CorsTest(unittest.TestCase):
    cors = gateway.Cors(allow_origins=(LANDING,), allow_methods=("GET", "POST", "OPTIONS"),
                        allow_headers=("authorization", "content-type"), max_age=600)

    def test_preflight_from_an_allowed_origin(self):
        self.assertEqual(self.cors.preflight(LANDING, "POST", "Content-Type"), {
            "Access-Control-Allow-Origin": LANDING,
            "Access-Control-Allow-Methods": "GET,POST,OPTIONS",
            "Access-Control-Allow-Headers": "authorization,content-type",
            "Access-Control-Max-Age": "600",
        })

    def test_preflight_refused(self):
        self.assertIsNone(self.cors.preflight("https://evil.example", "POST", "content-type"))
        self.assertIsNone(self.cors.preflight(LANDING, "DELETE", None))
        self.assertIsNone(self.cors.preflight(LANDING, "POST", "x-custom"))
        self.assertIsNone(self.cors.preflight("http://127.0.0.1:8081", "GET", None))

    def test_actual_responses(self):
        self.assertEqual(self.cors.response_headers(LANDING), {"Access-Control-Allow-Origin": LANDING})
        self.assertEqual(self.cors.response_headers("https://evil.example"), {})
        self.assertEqual(self.cors.response_headers(None), {})

    def test_wildcards(self):
        cors = gateway.Cors(allow_origins=("https://*.example.com",), allow_methods=("*",))
        self.assertTrue(cors.origin_allowed("https://app.example.com"))
        self.assertFalse(cors.origin_allowed("https://example.org"))
        star = gateway.Cors(allow_origins=("*",), allow_methods=("GET",))
        self.assertEqual(star.response_headers("http://x.test"), {"Access-Control-Allow-Origin": "*"})


class JwtTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.issuer = gateway.LocalIssuer(ISSUER, gateway.LOCAL_AUDIENCE)
        cls.other = gateway.LocalIssuer(ISSUER, gateway.LOCAL_AUDIENCE)  # same name, other key

    def verify(self, token, now=None):
        return gateway.verify_jwt(token, self.issuer.public_keys(), ISSUER, (gateway.LOCAL_AUDIENCE,), now=now)

    def test_a_token_from_the_local_issuer_verifies(self):
        answer = self.issuer.token_for({"email": "ada@example.com"}, now=1_800_000_000)
        claims = self.verify(answer["access_token"], now=1_800_000_100)
        self.assertEqual(claims["email"], "ada@example.com")
        self.assertIs(claims["email_verified"], True)
        self.assertEqual((claims["iss"], claims["aud"], claims["exp"]), (ISSUER, "agency-os-local", 1_800_003_600))
        self.assertEqual(answer["token_type"], "Bearer")

    def test_refused_tokens(self):
        now = 1_800_000_000
        good = lambda **over: self.issuer.token_for({"email": "ada@example.com", **over}, now=now)["access_token"]  # noqa: E731
        cases = {
            "expired": good(exp=now - 1),
            "not valid yet": good(nbf=now + 60),
            "wrong issuer": good(iss="https://other.example"),
            "wrong audience": good(aud="someone-else"),
            "no exp": good(exp=None),
            "other key": self.other.token_for({"email": "ada@example.com"}, now=now)["access_token"],
            "not a jwt": "abc",
            "garbage": "a.b.c",
        }
        header, payload, signature = good().split(".")
        tampered = json.loads(gateway.b64url_decode(payload))
        tampered["email"] = "mallory@example.com"
        cases["tampered"] = ".".join([header, gateway.b64url(json.dumps(tampered).encode()), signature])
        none_header = gateway.b64url(json.dumps({"alg": "none", "kid": self.issuer.kid}).encode())
        cases["alg none"] = ".".join([none_header, payload, ""])
        for name, token in cases.items():
            with self.subTest(name), self.assertRaises(gateway.Unauthorized):
                self.verify(token, now=now)

    def test_audience_list_and_client_id(self):
        now = 1_800_000_000
        listed = self.issuer.token_for({"email": "a@b.co", "aud": ["x", gateway.LOCAL_AUDIENCE]}, now=now)
        self.verify(listed["access_token"], now=now)
        cognito = self.issuer.sign({"iss": ISSUER, "client_id": gateway.LOCAL_AUDIENCE, "exp": now + 60})
        self.verify(cognito, now=now)

    def test_route_scopes(self):
        now = 1_800_000_000
        token = self.issuer.token_for({"email": "a@b.co", "scope": "billing:read profile"}, now=now)["access_token"]
        keys = self.issuer.public_keys()
        gateway.verify_jwt(token, keys, ISSUER, (gateway.LOCAL_AUDIENCE,), scopes=("billing:read",), now=now)
        with self.assertRaises(gateway.Unauthorized):
            gateway.verify_jwt(token, keys, ISSUER, (gateway.LOCAL_AUDIENCE,), scopes=("admin",), now=now)

    def test_claims_reach_the_function_as_strings(self):
        route = gateway.Route(method="POST", path="/x", function="f", logical_id="F", auth="JWT")
        context = gateway.jwt_authorizer_context(
            {"email": "ada@example.com", "email_verified": True, "exp": 1800003600, "groups": ["a", "b"],
             "address": {"city": "Perth"}, "ratio": 0.5}, route)
        self.assertEqual(context, {"jwt": {"claims": {
            "email": "ada@example.com", "email_verified": "true", "exp": "1800003600",
            "groups": "[a b]", "address": "map[city:Perth]", "ratio": "0.5"}, "scopes": None}})

    def test_bearer_and_bare_tokens(self):
        self.assertEqual(gateway.bearer_token("Bearer abc"), "abc")
        self.assertEqual(gateway.bearer_token("bearer  abc "), "abc")
        self.assertEqual(gateway.bearer_token("abc"), "abc")
        self.assertIsNone(gateway.bearer_token(None))
        self.assertIsNone(gateway.bearer_token("Bearer "))

    def test_the_jwks_publishes_the_signing_key(self):
        jwks = self.issuer.jwks()
        self.assertEqual([k["kid"] for k in jwks["keys"]], [self.issuer.kid])
        self.assertEqual(self.issuer.discovery()["jwks_uri"], ISSUER + "/.well-known/jwks.json")


def pkce():
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = gateway.b64url(__import__("hashlib").sha256(verifier.encode()).digest())
    return verifier, challenge


class LocalUserPoolTest(unittest.TestCase):
    """The board's Cognito user pool, stood in for by the gateway."""

    def setUp(self):
        api = local_api()
        self.pools = gateway.local_user_pools(api, template(), "http://127.0.0.1:9000")
        self.api = api
        self.pool = self.pools["BoardUserPool"]

    def test_the_boards_authorizer_takes_the_local_pool_as_issuer(self):
        self.assertEqual(set(self.pools), {"BoardUserPool"})
        board = self.api.authorizers["BoardJwt"]
        self.assertEqual(board.issuer, "http://127.0.0.1:9000/local-cognito/BoardUserPool")
        self.assertEqual(board.audiences, ("BoardUserPoolClient",))
        self.assertEqual(self.api.authorizers["AppJwt"].issuer, ISSUER, "the app's issuer is untouched")
        # Each issuer's tokens are refused by the other authorizer.
        app_token = gateway.LocalIssuer(ISSUER, gateway.LOCAL_AUDIENCE).token_for({"email": "ana@agency.test"})["access_token"]
        with self.assertRaises(gateway.Unauthorized):
            gateway.verify_jwt(app_token, self.pool.public_keys(), board.issuer, board.audiences)

    def test_dev_users_carry_their_groups_as_cognito_id_tokens_do(self):
        ana = self.pool.token_for({"email": "ana@agency.test"})["claims"]
        self.assertEqual((ana["cognito:groups"], ana["token_use"], ana["aud"], ana["email_verified"]),
                         (["sales"], "id", "BoardUserPoolClient", True))
        guest = self.pool.token_for({"email": "guest@agency.test"})["claims"]
        self.assertNotIn("cognito:groups", guest, "Cognito leaves the claim out for a user in no group")
        # As API Gateway passes them to the function.
        route = gateway.Route(method="GET", path="/x", function="f", logical_id="F")
        claims = gateway.jwt_authorizer_context(ana, route)["jwt"]["claims"]
        self.assertEqual(claims["cognito:groups"], "[sales]")

    def test_the_code_flow_with_pkce(self):
        verifier, challenge = pkce()
        params = {"client_id": "BoardUserPoolClient", "response_type": "code", "state": "s1",
                  "redirect_uri": "http://127.0.0.1:8080/board/index.html", "scope": "openid email",
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        status, _, page = self.pool.authorize(params)
        self.assertEqual(status, 200, "no login_hint: the page to pick a dev user")
        self.assertIn("ana@agency.test", page)
        status, headers, _ = self.pool.authorize({**params, "login_hint": "ana@agency.test"})
        self.assertEqual(status, 302)
        location = headers["Location"]
        self.assertTrue(location.startswith("http://127.0.0.1:8080/board/index.html?code="), location)
        self.assertIn("state=s1", location)
        code = dict(parse_qsl(location.split("?", 1)[1]))["code"]
        form = {"grant_type": "authorization_code", "code": code, "client_id": "BoardUserPoolClient",
                "redirect_uri": params["redirect_uri"], "code_verifier": "wrong"}
        self.assertEqual(self.pool.exchange(dict(form)), (400, {"error": "invalid_grant"}),
                         "a wrong verifier spends the code")
        status, headers, _ = self.pool.authorize({**params, "login_hint": "ana@agency.test"})
        code = dict(parse_qsl(headers["Location"].split("?", 1)[1]))["code"]
        form.update(code=code, code_verifier=verifier)
        status, answer = self.pool.exchange(dict(form))
        self.assertEqual(status, 200, answer)
        claims = gateway.verify_jwt(answer["id_token"], self.pool.public_keys(), self.pool.issuer,
                                    self.pool.clients)
        self.assertEqual((claims["email"], claims["cognito:groups"]), ("ana@agency.test", ["sales"]))
        self.assertEqual(self.pool.exchange(dict(form)), (400, {"error": "invalid_grant"}), "a code is used once")

    def test_refused_authorize_requests(self):
        _, challenge = pkce()
        good = {"client_id": "BoardUserPoolClient", "response_type": "code", "code_challenge": challenge,
                "code_challenge_method": "S256", "redirect_uri": "http://127.0.0.1:8080/board/index.html",
                "login_hint": "ana@agency.test"}
        for change in ({"client_id": "other"}, {"response_type": "token"}, {"code_challenge_method": "plain"},
                       {"code_challenge": ""}, {"redirect_uri": "https://evil.example/board/"}):
            status, _, _ = self.pool.authorize({**good, **change})
            self.assertEqual(status, 400, change)


class IamTest(unittest.TestCase):
    def test_the_access_key_of_a_sigv4_header(self):
        header = ("AWS4-HMAC-SHA256 Credential=AKIDSALES/20260101/ap-southeast-2/execute-api/aws4_request, "
                  "SignedHeaders=host;x-amz-date, Signature=0123abcd")
        self.assertEqual(gateway.sigv4_access_key(header), "AKIDSALES")
        self.assertIsNone(gateway.sigv4_access_key(None))
        self.assertIsNone(gateway.sigv4_access_key("Bearer abc"))
        self.assertIsNone(gateway.sigv4_access_key("AWS4-HMAC-SHA256 Credential=AKID/x"))
        presigned = {"X-Amz-Credential": "AKIDQ/20260101/r/execute-api/aws4_request", "X-Amz-Signature": "ab"}
        self.assertEqual(gateway.sigv4_access_key(None, presigned), "AKIDQ")

    def test_the_caller_identity_passed_on(self):
        iam = gateway.iam_authorizer_context("AKIDSALES")["iam"]
        self.assertEqual(iam["accessKey"], "AKIDSALES")
        self.assertEqual(iam["accountId"], "123456789012")
        self.assertEqual(iam["userArn"], "arn:aws:iam::123456789012:user/AKIDSALES")
        self.assertTrue(iam["callerId"].startswith("AIDA"))
        self.assertEqual(iam["userId"], iam["callerId"])


class EventTest(unittest.TestCase):
    def test_an_api_route_event(self):
        event = gateway.build_event(
            method="post", raw_path="/pipeline/leads/lead_1", raw_query="a=1&a=2&b=&c=x%20y",
            headers=[("Host", "127.0.0.1:9000"), ("Content-Type", "application/json"),
                     ("Cookie", "s=1; t=2"), ("X-Multi", "1"), ("x-multi", "2"), ("User-Agent", "curl/8")],
            body=b'{"x":1}', source_ip="127.0.0.2", route_key="PATCH /pipeline/leads/{lead_id}",
            path_parameters={"lead_id": "lead_1"}, authorizer={"iam": {"accessKey": "K"}},
            request_id_value="rid=", now=1_800_000_000.5, api_id="salesapi", local_port=9000)
        self.assertEqual(event["version"], "2.0")
        self.assertEqual(event["routeKey"], "PATCH /pipeline/leads/{lead_id}")
        self.assertEqual(event["rawPath"], "/pipeline/leads/lead_1")
        self.assertEqual(event["rawQueryString"], "a=1&a=2&b=&c=x%20y")
        self.assertEqual(event["queryStringParameters"], {"a": "1,2", "b": "", "c": "x y"})
        self.assertEqual(event["pathParameters"], {"lead_id": "lead_1"})
        self.assertEqual(event["cookies"], ["s=1", "t=2"])
        headers = event["headers"]
        self.assertNotIn("cookie", headers)
        self.assertEqual(headers["x-multi"], "1,2")
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(headers["x-forwarded-for"], "127.0.0.2")
        self.assertEqual(headers["x-forwarded-port"], "9000")
        self.assertEqual(event["body"], '{"x":1}')
        self.assertIs(event["isBase64Encoded"], False)
        ctx = event["requestContext"]
        self.assertEqual(ctx["http"], {"method": "POST", "path": "/pipeline/leads/lead_1",
                                       "protocol": "HTTP/1.1", "sourceIp": "127.0.0.2", "userAgent": "curl/8"})
        self.assertEqual((ctx["accountId"], ctx["apiId"], ctx["stage"], ctx["requestId"]),
                         ("123456789012", "salesapi", "$default", "rid="))
        self.assertEqual((ctx["domainName"], ctx["domainPrefix"]), ("127.0.0.1", "127"))
        self.assertEqual(ctx["routeKey"], event["routeKey"])
        self.assertEqual(ctx["timeEpoch"], 1_800_000_000_500)
        self.assertEqual(ctx["time"], "15/Jan/2027:08:00:00 +0000")
        self.assertEqual(ctx["authorizer"], {"iam": {"accessKey": "K"}})

    def test_no_query_no_body_no_authorizer(self):
        event = gateway.build_event(method="GET", raw_path="/billing/founding-spots", raw_query="",
                                    headers=[("X-Forwarded-For", "10.0.0.9")], body=b"", source_ip="127.0.0.3")
        for absent in ("queryStringParameters", "pathParameters", "cookies", "body"):
            self.assertNotIn(absent, event)
        self.assertNotIn("authorizer", event["requestContext"])
        self.assertEqual(event["rawQueryString"], "")
        self.assertEqual(event["headers"]["x-forwarded-for"], "10.0.0.9, 127.0.0.3")
        self.assertEqual(event["requestContext"]["http"]["sourceIp"], "127.0.0.3")

    def test_binary_bodies_travel_in_base64(self):
        raw = bytes(range(256))
        event = gateway.build_event(method="POST", raw_path="/", raw_query="", body=raw, source_ip="127.0.0.1",
                                    headers=[("Content-Type", "application/octet-stream")])
        self.assertTrue(event["isBase64Encoded"])
        self.assertEqual(base64.b64decode(event["body"]), raw)
        not_utf8 = gateway.build_event(method="POST", raw_path="/", raw_query="", body=b"\xff\xfe",
                                       source_ip="127.0.0.1", headers=[("Content-Type", "application/json")])
        self.assertTrue(not_utf8["isBase64Encoded"])

    def test_decoding_the_functions_answer(self):
        payload = json.dumps({"statusCode": 201, "headers": {"Content-Type": "application/json", "Content-Length": "99"},
                              "multiValueHeaders": {"x-m": ["1", "2"]}, "cookies": ["a=1; Path=/"],
                              "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}).encode()
        status, headers, body = gateway.decode_response(payload)
        self.assertEqual(status, 201)
        self.assertEqual(headers, [("content-type", "application/json"), ("x-m", "1"), ("x-m", "2"),
                                   ("set-cookie", "a=1; Path=/")])
        self.assertEqual(body, b"\x00\x01")

    def test_an_answer_without_status_code_is_a_200_json_body(self):
        self.assertEqual(gateway.decode_response(b'{"a":1}'), (200, [("content-type", "application/json")], b'{"a":1}'))

    def test_the_access_log_uses_the_templates_format(self):
        fmt = local_api().access_log_format
        line = gateway.access_log_line(fmt, {"requestId": "r", "identity.sourceIp": "127.0.0.2", "status": 200})
        entry = json.loads(line)
        self.assertEqual((entry["requestId"], entry["ip"], entry["status"]), ("r", "127.0.0.2", "200"))


class ThrottleTest(unittest.TestCase):
    def test_burst_then_rate(self):
        now = [0.0]
        bucket = gateway.TokenBucket(gateway.Throttle(rate=5, burst=10), clock=lambda: now[0])
        self.assertEqual(sum(bucket.take() for _ in range(15)), 10)
        now[0] += 0.2  # one token back at 5/s
        self.assertTrue(bucket.take())
        self.assertFalse(bucket.take())
        now[0] += 100  # never more than the burst
        self.assertEqual(sum(bucket.take() for _ in range(15)), 10)

    def test_zero_limits_throttle_everything(self):
        bucket = gateway.TokenBucket(gateway.Throttle(rate=0, burst=0), clock=lambda: 0.0)
        self.assertFalse(bucket.take())


# ---------------------------------------------------------------------------------------------
# A real gateway in front of a stub of cargo lambda watch's invoke API
# ---------------------------------------------------------------------------------------------

class StubWatch(BaseHTTPRequestHandler):
    """Records each invocation's event and answers like a function: 200 with the event's
    sourceIp, plus a CORS header of its own that the gateway must drop on API routes."""
    events = []
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers["content-length"])))
        function = self.path.split("/")[3]
        StubWatch.events.append((function, event))
        if function == "broken":
            body = b'{"errorType":"Boom","errorMessage":"it broke"}'
            status = 500
        else:
            body = json.dumps({"statusCode": 200, "headers": {"content-type": "application/json",
                                                              "access-control-allow-origin": "*"},
                               "body": json.dumps({"sourceIp": event["requestContext"]["http"]["sourceIp"]})}).encode()
            status = 200
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class GatewayServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.watch = ThreadingHTTPServer(("127.0.0.1", 0), StubWatch)
        threading.Thread(target=cls.watch.serve_forever, daemon=True).start()
        cls.server = gateway.Server(("127.0.0.1", 0), gateway.Handler)
        port = cls.server.server_address[1]
        issuer_url = f"http://127.0.0.1:{port}{gateway.ISSUER_PATH}"
        api = gateway.build_api(template(), {"LandingOrigin": LANDING, "JwtIssuer": issuer_url,
                                             "JwtAudience": gateway.LOCAL_AUDIENCE})
        cls.issuer = gateway.LocalIssuer(issuer_url, gateway.LOCAL_AUDIENCE)
        cls.pools = gateway.local_user_pools(api, template(), f"http://127.0.0.1:{port}")
        gateway.Handler.quiet = True
        gateway.Handler.gateway = gateway.Gateway(api, cls.issuer, f"http://127.0.0.1:{cls.watch.server_address[1]}",
                                                  port=port, pools=cls.pools)
        cls.port = port
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.watch.shutdown()

    def setUp(self):
        StubWatch.events.clear()

    def request(self, method, path, headers=None, body=None, source="127.0.0.1"):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10, source_address=(source, 0))
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            connection.close()

    def test_clients_on_other_loopback_addresses_reach_functions_as_themselves(self):
        for source in ("127.0.0.2", "127.0.0.3"):
            status, _, body = self.request("GET", "/billing/founding-spots", source=source)
            self.assertEqual((status, json.loads(body)), (200, {"sourceIp": source}))
            status, _, body = self.request("POST", "/lambda-url/stripe-webhook/", body=b"{}",
                                           headers={"content-type": "application/json"}, source=source)
            self.assertEqual((status, json.loads(body)), (200, {"sourceIp": source}))
        api_events = [e for f, e in StubWatch.events if f == "founding-spots"]
        url_events = [e for f, e in StubWatch.events if f == "stripe-webhook"]
        self.assertEqual([e["requestContext"]["http"]["sourceIp"] for e in api_events], ["127.0.0.2", "127.0.0.3"])
        self.assertEqual([e["requestContext"]["http"]["sourceIp"] for e in url_events], ["127.0.0.2", "127.0.0.3"])
        self.assertEqual(api_events[0]["routeKey"], "GET /billing/founding-spots")
        self.assertEqual((url_events[0]["routeKey"], url_events[0]["rawPath"]), ("$default", "/"))
        self.assertNotIn("authorizer", url_events[0]["requestContext"])

    def test_function_urls_keep_the_path_after_the_name(self):
        self.request("POST", "/lambda-url/create-checkout/billing/create-checkout?x=1", body=b"{}")
        function, event = StubWatch.events[-1]
        self.assertEqual((function, event["rawPath"], event["rawQueryString"]),
                         ("create-checkout", "/billing/create-checkout", "x=1"))

    def test_cors_preflight_and_responses(self):
        status, headers, _ = self.request("OPTIONS", "/billing/create-checkout", headers={
            "Origin": LANDING, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        self.assertEqual(status, 204)
        self.assertEqual(headers["access-control-allow-origin"], LANDING)
        self.assertEqual(headers["access-control-max-age"], "600")
        status, headers, _ = self.request("OPTIONS", "/billing/create-checkout", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        self.assertEqual(status, 204)
        self.assertFalse([h for h in headers if h.startswith("access-control-")])
        self.assertEqual(StubWatch.events, [], "preflights never reach a function")
        # The function's own CORS header is dropped; the configured one is set for allowed origins.
        _, headers, _ = self.request("GET", "/billing/founding-spots", headers={"Origin": LANDING})
        self.assertEqual(headers["access-control-allow-origin"], LANDING)
        _, headers, _ = self.request("GET", "/billing/founding-spots", headers={"Origin": "https://evil.example"})
        self.assertNotIn("access-control-allow-origin", headers)

    def test_the_jwt_route(self):
        status, _, body = self.request("POST", "/billing/customer-portal", body=b"{}")
        self.assertEqual((status, json.loads(body)), (401, {"message": "Unauthorized"}))
        status, _, body = self.request("POST", "/billing/customer-portal", body=b"{}",
                                       headers={"Authorization": "Bearer not.a.token"})
        self.assertEqual(status, 401)
        status, _, body = self.request("POST", "/local-issuer/token", body=json.dumps({"email": "ada@example.com"}))
        self.assertEqual(status, 200)
        token = json.loads(body)["access_token"]
        status, _, _ = self.request("POST", "/billing/customer-portal", body=b"{}",
                                    headers={"Authorization": f"Bearer {token}"})
        self.assertEqual(status, 200)
        claims = StubWatch.events[-1][1]["requestContext"]["authorizer"]["jwt"]["claims"]
        self.assertEqual((claims["email"], claims["email_verified"]), ("ada@example.com", "true"))
        status, _, body = self.request("GET", "/local-issuer/.well-known/openid-configuration")
        self.assertEqual(json.loads(body)["issuer"], f"http://127.0.0.1:{self.port}/local-issuer")
        status, _, body = self.request("GET", "/.well-known/jwks.json")
        self.assertEqual(json.loads(body)["keys"][0]["kid"], self.issuer.kid)

    def test_the_iam_routes(self):
        status, _, body = self.request("GET", "/pipeline/summary")
        self.assertEqual((status, json.loads(body)), (403, {"message": "Forbidden"}))
        signed = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDSALES/20260101/ap-southeast-2/"
                                   "execute-api/aws4_request, SignedHeaders=host, Signature=00"}
        status, _, _ = self.request("GET", "/pipeline/leads/lead_9", headers=signed)
        self.assertEqual(status, 200)
        event = StubWatch.events[-1][1]
        self.assertEqual(event["pathParameters"], {"lead_id": "lead_9"})
        self.assertEqual(event["requestContext"]["authorizer"]["iam"]["userArn"],
                         "arn:aws:iam::123456789012:user/AKIDSALES")

    def test_the_boards_routes_take_the_local_pools_tokens(self):
        path = "/board/api/pipeline/summary"
        status, _, body = self.request("GET", path)
        self.assertEqual((status, json.loads(body)), (401, {"message": "Unauthorized"}))
        # The app's issuer is another issuer: its tokens are refused on the board's routes.
        _, _, body = self.request("POST", "/local-issuer/token", body=json.dumps({"email": "ana@agency.test"}))
        status, _, _ = self.request("GET", path, headers={"Authorization": "Bearer " + json.loads(body)["access_token"]})
        self.assertEqual(status, 401)
        # The browser's code flow: authorize (straight back with login_hint), then the token
        # endpoint (with CORS, as Cognito's), then the route.
        verifier, challenge = pkce()
        redirect = "http://127.0.0.1:8080/board/index.html"
        query = "&".join(f"{k}={v}" for k, v in {
            "client_id": "BoardUserPoolClient", "response_type": "code", "state": "xyz",
            "redirect_uri": redirect, "code_challenge": challenge, "code_challenge_method": "S256",
            "login_hint": "ana@agency.test"}.items())
        status, headers, _ = self.request("GET", "/local-cognito/BoardUserPool/oauth2/authorize?" + query)
        self.assertEqual(status, 302)
        code = dict(parse_qsl(headers["location"].split("?", 1)[1]))["code"]
        status, headers, _ = self.request("OPTIONS", "/local-cognito/BoardUserPool/oauth2/token", headers={
            "Origin": LANDING, "Access-Control-Request-Method": "POST"})
        self.assertEqual((status, headers["access-control-allow-origin"]), (204, "*"))
        form = f"grant_type=authorization_code&code={code}&client_id=BoardUserPoolClient&redirect_uri={redirect}&code_verifier={verifier}"
        status, headers, body = self.request("POST", "/local-cognito/BoardUserPool/oauth2/token", body=form,
                                             headers={"content-type": "application/x-www-form-urlencoded", "Origin": LANDING})
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["access-control-allow-origin"], "*")
        token = json.loads(body)["id_token"]
        status, _, _ = self.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        self.assertEqual(status, 200)
        function, event = StubWatch.events[-1]
        claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
        self.assertEqual((function, event["routeKey"]), ("pipeline", "GET /board/api/pipeline/summary"))
        self.assertEqual((claims["email"], claims["cognito:groups"], claims["email_verified"]),
                         ("ana@agency.test", "[sales]", "true"))
        # The dev shortcut, for a user outside the group: the gateway lets it through (API Gateway
        # cannot check groups); the pipeline function answers 403 (tests/pipeline/board.rs).
        _, _, body = self.request("POST", "/local-cognito/BoardUserPool/token", body=json.dumps({"email": "guest@agency.test"}))
        status, _, _ = self.request("GET", path, headers={"Authorization": "Bearer " + json.loads(body)["id_token"]})
        self.assertEqual(status, 200)
        self.assertNotIn("cognito:groups", StubWatch.events[-1][1]["requestContext"]["authorizer"]["jwt"]["claims"])
        status, _, _ = self.request("GET", "/local-cognito/Nope/.well-known/jwks.json")
        self.assertEqual(status, 404)

    def test_unknown_routes_and_failing_functions(self):
        status, _, body = self.request("GET", "/nowhere")
        self.assertEqual((status, json.loads(body)), (404, {"message": "Not Found"}))
        status, _, body = self.request("GET", "/billing/create-checkout")
        self.assertEqual(status, 404)
        status, _, _ = self.request("GET", "/lambda-url/broken/")
        self.assertEqual(status, 502)

    def test_throttling_beyond_the_routes_burst(self):
        # create-checkout: burst 10 at 5/s. Sequential requests here take about a millisecond, so
        # the bucket refills well under one token while 15 are sent.
        statuses = [self.request("POST", "/billing/create-checkout", body=b"{}")[0] for _ in range(15)]
        self.assertEqual(statuses[:10], [200] * 10)
        self.assertIn(429, statuses[10:])
        status, _, body = self.request("POST", "/billing/create-checkout", body=b"{}")
        if status == 429:
            self.assertEqual(json.loads(body), {"message": "Too Many Requests"})
        time.sleep(0.5)  # leave the bucket refilling for the other tests


if __name__ == "__main__":
    unittest.main()
