"""AWS's rules in front of the local DynamoDB and Secrets Manager (moto).

The local server answers whatever it is asked, one request at a time, at once. AWS does not:

* **IAM.** Each Lambda function calls AWS with its own role, and AWS refuses (AccessDenied) any
  call the role's policy in `infra/template.yaml` does not allow. Locally, a function signs its
  calls with the access key id `local-<LogicalId>` (its resource name in the template, e.g.
  `local-CreateCheckoutFunction`); this layer evaluates each such call against that function's
  policy the way AWS does (below) and answers `AccessDeniedException` as AWS does. Any other
  access key (`test`: the tests' own set-up, `salesctl` with an operator's rights) is not
  checked. What each function was allowed to do is recorded, so that `make test` can also report
  the other way: actions the template grants that no call used.
* **DynamoDB's concurrency, failures and limits**, switched on per table (tests make one table
  each, so one test's rules never touch another's) through `POST /_local/rules`:
  - transactions hold their items while they run (for the request's simulated latency): a
    transaction that touches an item of a running transaction is cancelled with
    `TransactionConflict`, and a single-item write to such an item fails with
    `TransactionConflictException`, as DynamoDB documents for its optimistic concurrency;
  - latency like DynamoDB in one region: a few milliseconds, with a tail;
  - throttling (`ProvisionedThroughputExceededException`, `ThrottlingException`, a transaction
    cancelled with `ThrottlingError`), `InternalServerError` and `UnprocessedKeys` at set rates;
  - stalls on demand: every request to the table waits until the stall is lifted (what a paused
    server or a network partition looks like to the client; the request is applied when it
    ends, as a request already sent is);
  - DynamoDB's limits, always: 100 actions and 4 MB per transaction, 100 keys per
    BatchGetItem, 400 KB per item.

How AWS evaluates the policy, as far as this layer needs it (IAM's documented rules): an action
is allowed when an Allow statement matches both the action and the resource and no Deny
statement does; `*` and `?` are wildcards in both, and `*` in a resource matches `/` too (so
`table/x*` covers `table/x/index/i`, and `table/x` does not). DynamoDB authorises:
`BatchGetItem`/`BatchWriteItem` as their own actions on each table; `TransactWriteItems` as the
item-level action of each part (`PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem`) on
its table; `TransactGetItems` as `GetItem` on each table; a Query or Scan with `IndexName` on the
index's ARN (`table/<name>/index/<index>`). Locally every table stands for the template's one
table and every secret for its one secret, so a policy's `!GetAtt SalesTable.Arn` matches the
table whatever a test named it.
"""

from __future__ import annotations

import fnmatch
import io
import json
import urllib.parse
import random
import re
import threading
import time
from dataclasses import dataclass, field

from cfn_template import load_template

ACCOUNT = "123456789012"
LOCAL_KEY_PREFIX = "local-"
DYNAMODB_TARGET = "DynamoDB_20120810."
SECRETS_TARGET = "secretsmanager."

# DynamoDB's limits (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html)
MAX_TRANSACTION_ACTIONS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
MAX_BATCH_GET_KEYS = 100
MAX_ITEM_BYTES = 400 * 1024


# --------------------------------------------------------------------------------------------
# The template's policies
# --------------------------------------------------------------------------------------------


class PolicyError(Exception):
    """A policy this layer cannot evaluate faithfully (so it refuses to guess)."""


@dataclass
class Statement:
    effect: str
    actions: list[str]
    resources: list[str]
    sid: str = ""


@dataclass
class Policy:
    """One function's identity policy: its inline statements, resources resolved to ARNs."""

    function: str
    statements: list[Statement] = field(default_factory=list)

    def decide(self, action: str, resource: str) -> bool:
        """AWS's order: an explicit Deny wins, then any Allow, else the implicit deny."""
        matching = [
            st
            for st in self.statements
            if any(_action_matches(p, action) for p in st.actions)
            and any(_resource_matches(p, resource) for p in st.resources)
        ]
        if any(st.effect == "Deny" for st in matching):
            return False
        return any(st.effect == "Allow" for st in matching)

    def grants(self) -> list[tuple[str, str]]:
        return [
            (action, resource)
            for st in self.statements
            if st.effect == "Allow"
            for action in st.actions
            for resource in st.resources
        ]


def _action_matches(pattern: str, action: str) -> bool:
    # Action names are case-insensitive in IAM.
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _resource_matches(pattern: str, resource: str) -> bool:
    # ARNs are case-sensitive; `*` matches any run of characters, `/` included.
    return fnmatch.fnmatchcase(resource, pattern)


def table_arn(region: str, table: str = "SalesTable") -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}"


def secret_arn(region: str, secret: str = "SalesSecrets") -> str:
    return f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{secret}"


def topic_arn(region: str, topic: str) -> str:
    return f"arn:aws:sns:{region}:{ACCOUNT}:{topic}"


def ses_identity_arn(region: str, identity: str) -> str:
    return f"arn:aws:ses:{region}:{ACCOUNT}:identity/{identity}"


def rest_permissions(method: str, path: str, raw: bytes, region: str):
    """The IAM action and resource of an SES v2 or SNS request the functions make (SendEmail,
    Publish), or None for any other request (left to moto unchecked). SES authorises SendEmail
    on the sender's identity: its domain, or the address itself when that is verified alone."""
    if method == "POST" and path == "/v2/email/outbound-emails":
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            request = {}
        sender = request.get("FromEmailAddress") or ""
        address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
        domain = address.rsplit("@", 1)[-1]
        needed = [("ses:SendEmail", ses_identity_arn(region, domain))]
        # A templated send is authorised on the template too.
        template = ((request.get("Content") or {}).get("Template") or {}).get("TemplateName")
        if template:
            needed.append(("ses:SendEmail", f"arn:aws:ses:{region}:{ACCOUNT}:template/{template}"))
        return "ses", needed
    if method == "POST" and path in ("", "/"):
        form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"))
        if form.get("Action") == ["Publish"]:
            topic = (form.get("TopicArn") or [""])[0]
            return "sns", [("sns:Publish", topic)]
    return None


class _Resolver:
    """Turns a policy's `Resource` into ARNs: the stack's table and secret by their logical ids."""

    def __init__(self, template: dict, region: str):
        self.resources = template.get("Resources") or {}
        self.parameters = template.get("Parameters") or {}
        self.region = region

    def _kind(self, name: str) -> str:
        return (self.resources.get(name) or {}).get("Type", "")

    def arn_of(self, name: str) -> str:
        kind = self._kind(name)
        if kind == "AWS::DynamoDB::Table":
            return table_arn(self.region, name)
        if kind == "AWS::SecretsManager::Secret":
            # `!Ref` of a secret is its ARN.
            return secret_arn(self.region, name)
        if kind == "AWS::SES::Template":
            # `!Ref` of a template is its name; locally the template is named by its logical id.
            return name
        if kind == "AWS::SNS::Topic":
            # `!Ref` of a topic is its ARN; locally the topic is named by its logical id.
            return topic_arn(self.region, name)
        if name in self.parameters:
            # A parameter: its default stands for the deployed value locally.
            return str((self.parameters[name] or {}).get("Default", ""))
        raise PolicyError(f"a policy names {name} ({kind or 'not a resource'}): not modelled locally")

    def resolve(self, value) -> list[str]:
        if isinstance(value, list):
            return [arn for item in value for arn in self.resolve(item)]
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict) and len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return [self.arn_of(arg)]
            if fn == "Fn::GetAtt" and isinstance(arg, list) and arg[1:] == ["Arn"]:
                return [self.arn_of(arg[0])]
            if fn == "Fn::Sub" and isinstance(arg, str):
                return [re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m.group(1)), arg)]
        raise PolicyError(f"cannot resolve the resource {value!r}")

    def _sub(self, name: str) -> str:
        if name == "AWS::Region":
            return self.region
        if name == "AWS::AccountId":
            return ACCOUNT
        if name == "AWS::Partition":
            return "aws"
        if name.endswith(".Arn"):
            return self.arn_of(name[: -len(".Arn")])
        return self.arn_of(name)


def function_policies(template: dict, region: str) -> dict[str, Policy]:
    """Every `AWS::Serverless::Function`'s policy, by logical id."""
    resolver = _Resolver(template, region)
    policies = {}
    for name, resource in (template.get("Resources") or {}).items():
        if (resource or {}).get("Type") != "AWS::Serverless::Function":
            continue
        policy = Policy(name)
        for entry in (resource.get("Properties") or {}).get("Policies") or []:
            if isinstance(entry, str):
                # A managed policy by name: only the logging ones are expected here.
                if re.search(r"dynamodb|secretsmanager|administrator|poweruser", entry, re.I):
                    raise PolicyError(f"{name}: the managed policy {entry} is not modelled locally")
                continue
            if not isinstance(entry, dict) or "Statement" not in entry:
                raise PolicyError(f"{name}: only inline Statement policies are modelled ({entry!r})")
            statements = entry["Statement"]
            if isinstance(statements, dict):
                statements = [statements]
            for raw in statements:
                if "Condition" in raw or "NotAction" in raw or "NotResource" in raw:
                    raise PolicyError(f"{name}: Condition/NotAction/NotResource are not modelled")
                actions = raw.get("Action")
                actions = [actions] if isinstance(actions, str) else list(actions or [])
                policy.statements.append(
                    Statement(
                        effect=raw.get("Effect", ""),
                        actions=actions,
                        resources=resolver.resolve(raw.get("Resource")),
                        sid=raw.get("Sid", ""),
                    )
                )
        policies[name] = policy
    return policies


# --------------------------------------------------------------------------------------------
# What a request asks for
# --------------------------------------------------------------------------------------------


def access_key_of(authorization: str) -> str | None:
    match = re.search(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/", authorization or "")
    return match.group(1) if match else None


def region_of(authorization: str, default: str) -> str:
    match = re.search(r"Credential=[^/,\s]+/\d{8}/([^/]+)/", authorization or "")
    return match.group(1) if match else default


def dynamodb_permissions(operation: str, body: dict, region: str) -> list[tuple[str, str]]:
    """The (action, resource) pairs IAM checks for one DynamoDB request."""

    def on_table(name: str | None) -> str:
        return table_arn(region, "SalesTable") if name else table_arn(region, "")

    if operation == "TransactWriteItems":
        item_action = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        needed = []
        for part in body.get("TransactItems") or []:
            for kind, op in (part or {}).items():
                if kind in item_action:
                    needed.append((f"dynamodb:{item_action[kind]}", on_table((op or {}).get("TableName"))))
        return _unique(needed)
    if operation == "TransactGetItems":
        return _unique(
            [("dynamodb:GetItem", on_table(((p or {}).get("Get") or {}).get("TableName")))
             for p in body.get("TransactItems") or []]
        )
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return _unique([(f"dynamodb:{operation}", on_table(t)) for t in body.get("RequestItems") or {}])
    if operation in ("Query", "Scan") and body.get("IndexName"):
        return [(f"dynamodb:{operation}", f"{on_table(body.get('TableName'))}/index/{body['IndexName']}")]
    if operation == "ListTables":
        return [("dynamodb:ListTables", "*")]
    return [(f"dynamodb:{operation}", on_table(body.get("TableName")))]


def _unique(pairs):
    seen, out = set(), []
    for pair in pairs:
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out


def access_denied(principal_function: str, action: str, resource: str, service: str):
    """The error AWS answers, for the JSON protocols DynamoDB and Secrets Manager speak."""
    message = (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/local-{principal_function}-Role/"
        f"{principal_function} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )
    kind = (
        "com.amazon.coral.service#AccessDeniedException" if service == "dynamodb" else "AccessDeniedException"
    )
    return 400, {"__type": kind, "Message": message, "message": message}


# --------------------------------------------------------------------------------------------
# Per-table rules
# --------------------------------------------------------------------------------------------


@dataclass
class Rules:
    conflicts: bool = False
    latency: bool = False
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    unprocessed_rate: float = 0.0
    stalled: bool = False
    # A fixed latency instead of the random one (tests that need a long, known window).
    latency_ms: float = 0.0

    @staticmethod
    def from_json(value: dict) -> "Rules":
        rules = Rules()
        for key, current in vars(Rules()).items():
            if key in value:
                setattr(rules, key, type(current)(value[key]))
        unknown = set(value) - set(vars(rules)) - {"table"}
        if unknown:
            raise ValueError(f"unknown rules: {sorted(unknown)}")
        return rules


@dataclass
class Counts:
    requests: int = 0
    transactions: int = 0
    conflicts: int = 0  # transactions cancelled with TransactionConflict + single writes refused
    throttled: int = 0
    errors: int = 0
    unprocessed: int = 0
    stalled: int = 0


def latency_seconds(rng: random.Random) -> float:
    """DynamoDB in one region, seen from Lambda: ~2-6 ms, one request in fifty 15-60 ms."""
    if rng.random() < 0.02:
        return rng.uniform(0.015, 0.060)
    return rng.uniform(0.002, 0.006)


def item_size(item: dict) -> int:
    """DynamoDB's item size: the attribute names' and values' UTF-8 lengths (a close bound)."""
    return sum(len(name.encode()) + len(json.dumps(value).encode()) for name, value in item.items())


def limit_violation(operation: str, body: dict) -> str | None:
    """DynamoDB's request limits, as its ValidationException messages state them."""
    if operation == "TransactWriteItems":
        parts = body.get("TransactItems") or []
        if len(parts) > MAX_TRANSACTION_ACTIONS:
            return (
                "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_TRANSACTION_ACTIONS}"
            )
        if len(json.dumps(body).encode()) > MAX_TRANSACTION_BYTES:
            return "Transaction request cannot be larger than 4 MB"
        for part in parts:
            put = (part or {}).get("Put")
            if put and item_size(put.get("Item") or {}) > MAX_ITEM_BYTES:
                return "Item size has exceeded the maximum allowed size"
    if operation == "BatchGetItem":
        keys = sum(len((v or {}).get("Keys") or []) for v in (body.get("RequestItems") or {}).values())
        if keys > MAX_BATCH_GET_KEYS:
            return "Too many items requested for the BatchGetItem call"
    if operation == "PutItem" and item_size(body.get("Item") or {}) > MAX_ITEM_BYTES:
        return "Item size has exceeded the maximum allowed size"
    return None


def item_keys(operation: str, body: dict, key_names) -> list[tuple]:
    """The (table, key) of every item a write names; key_names(table) gives its key attributes."""

    def key_of(table, op, from_item):
        attrs = (op.get("Item") if from_item else op.get("Key")) or {}
        names = key_names(table)
        return (table, tuple(json.dumps(attrs.get(n), sort_keys=True) for n in names))

    if operation == "TransactWriteItems":
        out = []
        for part in body.get("TransactItems") or []:
            for kind, op in (part or {}).items():
                op = op or {}
                out.append(key_of(op.get("TableName"), op, kind == "Put"))
        return out
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return [key_of(body.get("TableName"), body, operation == "PutItem")]
    return []


def tables_of(operation: str, body: dict) -> list[str]:
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return list(body.get("RequestItems") or {})
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            (op or {}).get("TableName")
            for part in body.get("TransactItems") or []
            for op in (part or {}).values()
        ]
    return [body.get("TableName")]


# --------------------------------------------------------------------------------------------
# The WSGI layer
# --------------------------------------------------------------------------------------------


def _json_response(start_response, status: int, body: dict, error_type: str | None = None):
    data = json.dumps(body).encode()
    headers = [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))]
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}.get(status, "")
    start_response(f"{status} {reason}", headers)
    return [data]


class AwsRules:
    """Wraps the (serialised) moto app; see the module's doc for what it enforces."""

    def __init__(self, app, template_path: str, region: str = "ap-southeast-2", key_names=None, seed=None):
        self.app = app
        self.region = region
        self.template_path = template_path
        self.policies = function_policies(load_template(template_path), region)
        self.key_names = key_names or (lambda table: ("pk", "sk"))
        self.rng = random.Random(seed)
        self.state = threading.Condition()
        self.rules: dict[str, Rules] = {}
        self.counts: dict[str, Counts] = {}
        self.in_flight: dict[tuple, int] = {}  # item -> how many running transactions hold it
        self.hot: dict[str, dict[str, int]] = {}  # table -> item key -> conflicts on it
        self.used: dict[str, set] = {}
        self.denied: list[dict] = []

    # -- control -------------------------------------------------------------------------
    def _control(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if path == "/_local/sent" and method == "GET":
            query = environ.get("QUERY_STRING", "")
            service = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("service", "")
            if service not in ("ses", "sns"):
                return _json_response(start_response, 400, {"message": "service=ses or service=sns"})
            with self.state:
                return _json_response(start_response, 200, {"service": service, "sent": self.sent(service)})
        if path == "/_local/iam" and method == "GET":
            return _json_response(start_response, 200, self.iam_report())
        if path == "/_local/rules" and method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                value = json.loads(environ["wsgi.input"].read(length) or b"{}")
                table = value["table"]
                rules = Rules.from_json(value)
            except (KeyError, ValueError, TypeError) as e:
                return _json_response(start_response, 400, {"message": f"bad rules: {e}"})
            with self.state:
                self.rules[table] = rules
                self.state.notify_all()  # a lifted stall lets waiting requests go on
            return _json_response(start_response, 200, {"table": table, "rules": vars(rules)})
        if path == "/_local/rules" and method == "GET":
            query = environ.get("QUERY_STRING", "")
            table = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("table", "")
            with self.state:
                counts = vars(self.counts.get(table, Counts())).copy()
                rules = vars(self.rules.get(table, Rules())).copy()
                hot = sorted(self.hot.get(table, {}).items(), key=lambda kv: -kv[1])[:5]
            # The items conflicts happened on, most first: where a design has a hot spot.
            counts["hot_items"] = [{"item": item, "conflicts": n} for item, n in hot]
            return _json_response(start_response, 200, {"table": table, "rules": rules, "counts": counts})
        return _json_response(start_response, 404, {"message": "no such control path"})

    def iam_report(self) -> dict:
        """Granted and used, per function; `unused`: grants no call needed."""
        with self.state:
            used = {fn: sorted(map(list, pairs)) for fn, pairs in self.used.items()}
            denied = list(self.denied)
        unused = {}
        for fn, policy in self.policies.items():
            calls = self.used.get(fn, set())
            idle = [
                [action, resource]
                for action, resource in policy.grants()
                if not any(_action_matches(action, a) and _resource_matches(resource, r) for a, r in calls)
            ]
            if idle:
                unused[fn] = idle
        return {
            "template": self.template_path,
            "granted": {fn: [list(g) for g in p.grants()] for fn, p in self.policies.items()},
            "used": used,
            "unused": unused,
            "denied": denied,
        }

    # -- requests ------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_local/"):
            return self._control(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not (target.startswith(DYNAMODB_TARGET) or target.startswith(SECRETS_TARGET)):
            return self._rest(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        region = region_of(authorization, self.region)

        def forward(data: bytes = raw, respond=start_response):
            environ["wsgi.input"] = io.BytesIO(data)
            environ["CONTENT_LENGTH"] = str(len(data))
            return self.app(environ, respond)

        denied = self._authorise(authorization, target, body, region)
        if denied is not None:
            status, error = denied
            return _json_response(start_response, status, error, "AccessDeniedException")
        if not target.startswith(DYNAMODB_TARGET):
            return forward()
        operation = target[len(DYNAMODB_TARGET):]
        violation = limit_violation(operation, body)
        if violation:
            return _json_response(
                start_response,
                400,
                {"__type": "com.amazon.coral.validate#ValidationException", "message": violation},
                "ValidationException",
            )
        tables = [t for t in tables_of(operation, body) if t]
        with self.state:
            rules = next((self._rules_for(t) for t in tables if self._rules_for(t)), None)
        if rules is None:
            return forward()
        return self._with_rules(operation, body, tables[0], rules, forward, start_response)

    def _rest(self, environ, start_response):
        """SES v2 and SNS (REST and query protocols): the function's IAM policy decides
        SendEmail and Publish as AWS would; everything else goes to moto as it is."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        region = region_of(authorization, self.region)
        found = rest_permissions(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), raw, region)
        key = access_key_of(authorization)
        if found is None or not key or not key.startswith(LOCAL_KEY_PREFIX):
            return self.app(environ, start_response)
        service, needed = found
        function = key[len(LOCAL_KEY_PREFIX):]
        policy = self.policies.get(function)
        for action, resource in needed:
            if policy is None or not policy.decide(action, resource):
                with self.state:
                    self.denied.append({"function": function, "action": action, "resource": resource})
                _, error = access_denied(function, action, resource, service)
                if service == "sns":
                    body = (
                        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error>'
                        f"<Type>Sender</Type><Code>AuthorizationError</Code><Message>{error['message']}</Message>"
                        "</Error><RequestId>local</RequestId></ErrorResponse>"
                    ).encode()
                    start_response("403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
                    return [body]
                return _json_response(start_response, 403, {"message": error["message"]}, "AccessDeniedException")
        with self.state:
            self.used.setdefault(function, set()).update(needed)
        return self.app(environ, start_response)

    def sent(self, service: str) -> list[dict]:
        """What moto's SES sent and SNS published, oldest first (`GET /_local/sent?service=`)."""
        out = []
        if service == "ses":
            from moto.ses.models import ses_backends

            for region, backend in ses_backends[ACCOUNT].items():
                for m in backend.sent_messages:
                    out.append({
                        "id": m.id, "region": region, "source": m.source,
                        "destinations": m.destinations, "subject": getattr(m, "subject", None),
                        "body": getattr(m, "body", None),
                    })
        elif service == "sns":
            from moto.sns.models import sns_backends

            for region, backend in sns_backends[ACCOUNT].items():
                for arn, topic in backend.topics.items():
                    for message_id, message, subject, *_ in getattr(topic, "sent_notifications", []):
                        out.append({"id": message_id, "region": region, "topic": arn,
                                    "subject": subject, "message": message})
        return out

    def _authorise(self, authorization, target, body, region):
        key = access_key_of(authorization)
        if not key or not key.startswith(LOCAL_KEY_PREFIX):
            return None
        function = key[len(LOCAL_KEY_PREFIX):]
        policy = self.policies.get(function)
        if target.startswith(DYNAMODB_TARGET):
            service = "dynamodb"
            needed = dynamodb_permissions(target[len(DYNAMODB_TARGET):], body, region)
        else:
            service = "secretsmanager"
            needed = [(f"secretsmanager:{target[len(SECRETS_TARGET):]}", secret_arn(region))]
        for action, resource in needed:
            if policy is None or not policy.decide(action, resource):
                with self.state:
                    self.denied.append({"function": function, "action": action, "resource": resource})
                return access_denied(function, action, resource, service)
        with self.state:
            self.used.setdefault(function, set()).update(needed)
        return None

    def _rules_for(self, table):
        """The table's own rules, else those set for every table (`"table": "*"`)."""
        return self.rules.get(table) or self.rules.get("*")

    def _count(self, table, **increments):
        with self.state:
            counts = self.counts.setdefault(table, Counts())
            for name, by in increments.items():
                setattr(counts, name, getattr(counts, name) + by)

    def _with_rules(self, operation, body, table, rules, forward, start_response):
        self._count(table, requests=1)
        # A stall: wait (without holding anything) until the rules for the table are changed.
        if rules.stalled:
            self._count(table, stalled=1)
            with self.state:
                self.state.wait_for(lambda: not (self._rules_for(table) or Rules()).stalled)
        roll = self.rng.random()
        if roll < rules.throttle_rate:
            self._count(table, throttled=1)
            if operation == "TransactWriteItems":
                return self._cancelled(start_response, body, "ThrottlingError", "Throughput exceeds the current capacity for one or more resources.", None)
            kind = "ProvisionedThroughputExceededException" if operation != "Query" else "ThrottlingException"
            return _json_response(
                start_response,
                400,
                {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": "Throughput exceeds the current capacity of your table or index."},
                kind,
            )
        if roll < rules.throttle_rate + rules.error_rate:
            self._count(table, errors=1)
            return _json_response(
                start_response,
                500,
                {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "Internal server error"},
                "InternalServerError",
            )
        if rules.latency_ms:
            wait = rules.latency_ms / 1000
        else:
            wait = latency_seconds(self.rng) if rules.latency else 0.0
        held = []
        if rules.conflicts and operation in ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem"):
            keys = item_keys(operation, body, self.key_names)
            with self.state:
                busy = [k for k in keys if self.in_flight.get(k)]
                hot = self.hot.setdefault(table, {})
                for k in busy:
                    hot[" ".join(k[1])] = hot.get(" ".join(k[1]), 0) + 1
                if busy and operation == "TransactWriteItems":
                    self.counts.setdefault(table, Counts()).conflicts += 1
                    self.counts[table].transactions += 1
                    conflicting = set(busy)
                elif busy:
                    self.counts.setdefault(table, Counts()).conflicts += 1
                    conflicting = None
                else:
                    conflicting = set()
                    if operation == "TransactWriteItems":
                        self.counts.setdefault(table, Counts()).transactions += 1
                        held = keys
                        for k in held:
                            self.in_flight[k] = self.in_flight.get(k, 0) + 1
            if conflicting is None:
                time.sleep(wait)
                return _json_response(
                    start_response,
                    400,
                    {
                        "__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                        "message": "Transaction is ongoing for the item",
                    },
                    "TransactionConflictException",
                )
            if conflicting:
                time.sleep(wait)
                return self._cancelled(start_response, body, "TransactionConflict", "Transaction is ongoing for the item", (keys, conflicting))
        # A transaction holds its items for its time in DynamoDB (its latency, twice a single
        # request's: two phases): that window is where others conflict with it. It is let go
        # before it queues for the serialised server, whose queue is the local server's own
        # limit, not DynamoDB's; one that lost the race there fails its condition, as it would.
        try:
            time.sleep(wait * (2 if operation == "TransactWriteItems" else 1))
        finally:
            if held:
                with self.state:
                    for k in held:
                        self.in_flight[k] -= 1
                        if not self.in_flight[k]:
                            del self.in_flight[k]
        if operation == "BatchGetItem" and rules.unprocessed_rate and self.rng.random() < rules.unprocessed_rate:
            return self._partial_batch(body, table, forward, start_response)
        return forward()

    def _cancelled(self, start_response, body, code, message, conflict):
        parts = body.get("TransactItems") or []
        reasons = []
        for i, _ in enumerate(parts):
            if conflict is None:
                reasons.append({"Code": code, "Message": message})
            else:
                keys, busy = conflict
                hit = keys[i] in busy
                reasons.append({"Code": code, "Message": message} if hit else {"Code": "None"})
        codes = ", ".join(r["Code"] for r in reasons)
        return _json_response(
            start_response,
            400,
            {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                "CancellationReasons": reasons,
            },
            "TransactionCanceledException",
        )

    def _partial_batch(self, body, table, forward, start_response):
        """Serves some keys of a BatchGetItem and returns the rest as UnprocessedKeys."""
        requested = body.get("RequestItems") or {}
        served, unprocessed = {}, {}
        for name, spec in requested.items():
            keys = list(spec.get("Keys") or [])
            cut = self.rng.randint(0, max(len(keys) - 1, 0)) if keys else 0
            # Serve at least one key overall, so a retry loop always moves forward.
            if not served and cut == 0 and keys:
                cut = 1
            if keys[:cut]:
                served[name] = dict(spec, Keys=keys[:cut])
            if keys[cut:]:
                unprocessed[name] = dict(spec, Keys=keys[cut:])
        if not unprocessed:
            return forward()
        self._count(table, unprocessed=1)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        # Run the served part through the app, then add UnprocessedKeys to its answer.
        data = json.dumps(dict(body, RequestItems=served)).encode()
        answer = json.loads(b"".join(forward(data, capture)) or b"{}")
        if not captured["status"].startswith("200"):
            start_response(captured["status"], captured["headers"])
            return [json.dumps(answer).encode()]
        answer["UnprocessedKeys"] = unprocessed
        return _json_response(start_response, 200, answer)
