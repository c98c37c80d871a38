"""Local DynamoDB (and Secrets Manager) for tests and `make dev`.

moto's server speaks the DynamoDB wire API to the real AWS SDK, but stock `moto_server` serves
requests on several threads with no locking, so concurrent conditional writes race (21-28
"winners" of a 20-spot race were seen). Here every request runs behind one global lock: each
request sees the state that the one before it left, as DynamoDB guarantees for conditional writes
on an item. Connections are still accepted on many threads, so clients never queue at the socket.

Stock moto backs up every table a TransactWriteItems touches, whole (`copy.deepcopy`), so that it
can roll a cancelled one back: each transaction's time and garbage grow with the table, and under
sustained traffic the server's memory grew to the whole machine's. Here the backup is of the items
the transaction touches only (`bounded_transactions`), restored in reverse order when it is
cancelled; the result is the same, at a cost that does not grow with the table.

In front of it all, `aws_rules.AwsRules` applies AWS's rules that the local server lacks: each
function's IAM policy from infra/template.yaml, and (per table, on request) DynamoDB's
transaction conflicts, latency, throttling, errors and stalls, and its request limits.

Usage: python dynamodb_server.py --host 127.0.0.1 --port 8000 [--template infra/template.yaml]
"""

import argparse
import logging
import os
import signal
import sys
import threading

from aws_rules import ACCOUNT, AwsRules

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def provision(template_path: str, region: str) -> list[str]:
    """Creates in moto what the stack's template declares for SES and SNS, as a deployed stack
    has them: every `AWS::SNS::Topic` (named by its logical id, the ARN the local IAM check
    resolves `!Ref` to), every `AWS::SES::Template`, and the sender identity (the
    `OfferSenderDomain` parameter's default, verified). What was created, in words."""
    from cfn_template import load_template
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    template = load_template(template_path)
    parameters = template.get("Parameters") or {}
    made = []
    for name, resource in (template.get("Resources") or {}).items():
        kind = (resource or {}).get("Type")
        props = (resource or {}).get("Properties") or {}
        if kind == "AWS::SNS::Topic":
            sns_backends[ACCOUNT][region].create_topic(name)
            made.append(f"SNS topic {name}")
        elif kind == "AWS::SES::Template":
            body = props.get("Template") or {}
            # Named by its logical id locally (deployed, CloudFormation names it; `!Ref` gives it).
            ses_backends[ACCOUNT][region].add_template({
                "template_name": name,
                "subject_part": body.get("SubjectPart", ""),
                "text_part": body.get("TextPart", ""),
                "html_part": body.get("HtmlPart", ""),
            })
            made.append(f"SES template {name}")
    domain = (parameters.get("OfferSenderDomain") or {}).get("Default")
    if domain:
        ses_backends[ACCOUNT][region].verify_domain(domain)
        made.append(f"SES identity {domain}")
    return made


def sesv2_templates():
    """Makes moto's SES v2 SendEmail send `Content.Template` (moto 5.2 raises NotImplemented):
    the template (created with SES v1's CreateTemplate, which moto keeps for both) rendered with
    the data as SES renders it, `{{name}}` replaced; an unknown template is SES's 404
    NotFoundException."""
    import json
    import re

    from moto.sesv2.responses import SESV2Response
    from moto.ses.models import ses_backends

    original = SESV2Response.send_email

    def send_email(self):
        params = json.loads(self.body)
        content = params.get("Content") or {}
        if "Template" not in content:
            return original(self)
        spec = content["Template"]
        backend = ses_backends[self.current_account][self.region]
        template = backend.templates.get(spec.get("TemplateName"))
        if template is None:
            return 404, {"X-Amzn-Errortype": "NotFoundException"}, json.dumps(
                {"message": f"Template {spec.get('TemplateName')} does not exist."})
        data = json.loads(spec.get("TemplateData") or "{}")

        def render(text):
            return re.sub(r"{{\s*(\w+)\s*}}", lambda m: str(data.get(m.group(1), "")), text or "")

        message = backend.send_email(
            source=params.get("FromEmailAddress"),
            destinations=params.get("Destination") or {},
            subject=render(template.get("subject_part")),
            body=render(template.get("text_part") or template.get("html_part")),
        )
        return json.dumps({"MessageId": message.id})

    SESV2Response.send_email = send_email


def bounded_transactions():
    """Makes moto's TransactWriteItems back up only the items it touches.

    moto's own implementation keeps its shape (conditions, cancellation reasons, the checks of one
    action per item and of 100 actions); only its whole-table `copy.deepcopy` becomes a reference
    (so its own "rollback" restores the very same table object, a no-op), and this wrapper rolls a
    failed transaction back from copies of the touched items. Requests run one at a time (the
    global lock below), so nothing else sees the half-applied state.
    """
    import copy

    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    real_deepcopy = copy.deepcopy

    class TableByReference:
        """`copy` as moto's DynamoDB backend sees it: a table is not copied."""

        def __getattr__(self, name):
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value, memo=None):
            if isinstance(value, Table):
                return value
            return real_deepcopy(value, memo)

    models.copy = TableByReference()
    transact = models.DynamoDBBackend.transact_write_items

    def touched(backend, transact_items):
        """(table, hash, range, a copy of the item or None) for every item the actions name."""
        saved = []
        for action in transact_items:
            if not isinstance(action, dict) or len(action) != 1:
                continue
            kind, op = next(iter(action.items()))
            table = backend.tables.get((op or {}).get("TableName"))
            if table is None:
                continue
            if kind == "Put":
                attrs = op.get("Item") or {}
                key = {table.hash_key_attr: attrs.get(table.hash_key_attr)}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs.get(table.range_key_attr)
            else:
                key = op.get("Key") or {}
            try:
                hash_value, range_value = backend.get_keys_value(table, key)
                current = table.get_item(hash_value, range_value)
            except Exception:  # a malformed key: moto's own checks report it
                continue
            saved.append((table, hash_value, range_value, real_deepcopy(current)))
        return saved

    def restore(saved):
        for table, hash_value, range_value, item in reversed(saved):
            if range_value is not None:
                partition = table.items[hash_value]
                if item is None:
                    partition.pop(range_value, None)
                    if not partition:
                        table.items.pop(hash_value, None)
                else:
                    partition[range_value] = item
            elif item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item

    def transact_write_items(self, transact_items):
        saved = touched(self, transact_items)
        try:
            return transact(self, transact_items)
        except BaseException:
            restore(saved)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items


def serialised(app):
    """Wraps a WSGI app so that one request at a time runs, body included."""
    lock = threading.Lock()

    def locked_app(environ, start_response):
        with lock:
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]

    return locked_app


def key_names(table_name: str):
    """A table's key attributes, from moto's own backend (pk/sk when it does not know it)."""
    from moto.dynamodb.models import dynamodb_backends

    for region in ("ap-southeast-2", os.environ.get("AWS_REGION", "ap-southeast-2")):
        try:
            table = dynamodb_backends[ACCOUNT][region].tables.get(table_name)
        except KeyError:
            table = None
        if table is not None:
            return (table.hash_key_attr, table.range_key_attr)
    return ("pk", "sk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--stock-transactions",
        action="store_true",
        help="keep moto's whole-table backup per transaction (to measure it against)",
    )
    parser.add_argument(
        "--template",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "template.yaml"),
        help="the SAM template whose function policies the local IAM check applies",
    )
    args = parser.parse_args()

    # One log line per request would drown the test output; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if not args.stock_transactions:
        bounded_transactions()
    sesv2_templates()
    made = provision(os.path.normpath(args.template), os.environ.get("AWS_REGION", "ap-southeast-2"))
    # The rules layer runs outside the lock: its latency and stalls must not hold up others.
    app = AwsRules(
        serialised(DomainDispatcherApplication(create_backend_app)),
        os.path.normpath(args.template),
        key_names=key_names,
    )
    print(
        f"local DynamoDB (moto, serialised, AWS rules from {os.path.normpath(args.template)}) "
        f"on http://{args.host}:{args.port}" + (f"; provisioned {', '.join(made)}" if made else ""),
        flush=True,
    )
    run_simple(
        args.host,
        args.port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
