"""Tests of the README/banner command check (infra/local/check_docs.py): a small repository that
passes, then each kind of broken mention added to it, which must fail with its reason.

    .venv/bin/python -m unittest infra/local/test_check_docs.py
"""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_docs  # noqa: E402

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  FoundingSpotsFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: founding-spots
    Properties:
      CodeUri: ..
      Events:
        Get:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: GET
            Path: /billing/founding-spots
  StripeWebhookFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: stripe-webhook
    Properties:
      CodeUri: ..
  PipelineFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: pipeline
    Properties:
      CodeUri: ..
      Events:
        Summary:
          Type: HttpApi
          Properties: {Method: GET, Path: /pipeline/summary}
        Release:
          Type: HttpApi
          Properties: {Method: POST, Path: "/founding/holds/{spot}/release"}
  PaymentFailedAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Threshold: 1
"""

MAKEFILE = """\
.PHONY: test dev invoke
test: venv ## every test
\tcargo test
dev: ## the stack
\tinfra/local/dev.sh
invoke:
\t@true
venv:
\t@true
"""

DEV_SH = """\
#!/usr/bin/env bash
banner() {
  echo "    curl -s $base/billing/founding-spots"
  echo "    curl -s $base/pipeline/summary -H 'Authorization: AWS4-HMAC-SHA256 …'"
  for f in "${functions[@]}"; do printf '%s\\n' "$base/lambda-url/$f/"; done
  echo "    make dev"
  say "DynamoDB: 'cargo run -q --bin salesctl -- summary'"
}
banner
"""

CLI_RS = """\
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The pipeline by stage.
    Summary(SummaryArgs),
    /// Release a hold.
    ReleaseHold { spot: u8 },
    #[command(name = "spots")]
    Seats,
}
"""

CONFIG_RS = """\
pub const SECRET_KEYS: [&str; 3] = [
    "STRIPE_SECRET_KEY",
    "CAL_WEBHOOK_SECRET",
    "CAL_WEBHOOK_SECRET_PREVIOUS",
];
"""

README = """\
# Example

```sh
make test
DEV_RELOAD=0 make dev
make invoke FUNCTION=pipeline EVENT=summary
salesctl summary            # the pipeline
salesctl release-hold 7
```

`salesctl spots` and `salesctl reconcile` (planned: not built yet). Puts salesctl into PATH.
Routes: `GET /billing/founding-spots`, `POST /founding/holds/{spot}/release`,
`/founding/holds/7/release`, `/pipeline/…`, http://127.0.0.1:9000/billing/founding-spots,
`/lambda-url/founding-spots/`, `/lambda-url/pipeline/pipeline/summary`, `/lambda-url/<function>/`.
Files: `infra/template.yaml`, `events/pipeline/*.json`, `target/debug/salesctl`, `functions/<name>/`.
See [the runbook](docs/runbook.md#the-alarms) and [config](docs/configuration.md).
"""

RUNBOOK = """\
# Runbook

## The alarms

- `PaymentFailedAlarm`: a payment failed.
"""

CONFIGURATION = """\
# Configuration

The secrets, exactly `SECRET_KEYS` in `shared/src/lambda/config.rs`: `STRIPE_SECRET_KEY`,
`CAL_WEBHOOK_SECRET`, `CAL_WEBHOOK_SECRET_PREVIOUS`. Besides them `STRIPE_STANDARD_PRICE_ID`.
"""

EVENT = '{"version": "2.0", "routeKey": "GET /pipeline/summary", "rawPath": "/pipeline/summary"}'


class CheckDocs(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="check-docs-")
        self.addCleanup(shutil.rmtree, self.root)
        files = {
            "Makefile": MAKEFILE, "README.md": README, "infra/template.yaml": TEMPLATE,
            "infra/local/dev.sh": DEV_SH, "salesctl/src/cli.rs": CLI_RS,
            "shared/src/lambda/config.rs": CONFIG_RS, "docs/runbook.md": RUNBOOK,
            "docs/configuration.md": CONFIGURATION, "events/pipeline/summary.json": EVENT,
            "functions/founding-spots/Cargo.toml": "",
        }
        for name, text in files.items():
            path = os.path.join(self.root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        # No built salesctl here: the commands come from the source.
        self.env = os.environ.get("CARGO_TARGET_DIR")
        os.environ["CARGO_TARGET_DIR"] = os.path.join(self.root, "target")
        self.addCleanup(self.restore_env)

    def restore_env(self):
        if self.env is None:
            os.environ.pop("CARGO_TARGET_DIR", None)
        else:
            os.environ["CARGO_TARGET_DIR"] = self.env

    def errors(self):
        errors, _ = check_docs.check(self.root)
        return errors

    def append(self, name, text):
        with open(os.path.join(self.root, name), "a") as f:
            f.write(text)

    def test_the_example_passes(self):
        self.assertEqual(self.errors(), [])

    def assertFails(self, name, text, reason):
        self.append(name, text)
        errors = self.errors()
        self.assertTrue(errors, f"no error for {text!r}")
        self.assertTrue(any(reason in e for e in errors), f"{reason!r} not in {errors}")

    def test_an_unknown_make_target_fails(self):
        self.assertFails("README.md", "\nRun `make deploy-everything`.\n", "`make deploy-everything`: no such target")

    def test_make_invoke_needs_its_sample_event(self):
        self.assertFails("README.md", "\n`make invoke FUNCTION=pipeline EVENT=leads`\n", "no events/pipeline/leads.json")

    def test_an_unknown_salesctl_command_fails(self):
        self.assertFails("README.md", "\n```sh\nsalesctl promote ada@example.com\n```\n", "`salesctl promote`: not a salesctl command")

    def test_salesctl_commands_from_the_old_usage_text_and_from_clap_help(self):
        old = "usage: salesctl <command> [options]\n\ndeals:\n  summary      the pipeline\n  move EMAIL STAGE [--due DATE]\n        [--as WHO]\n"
        self.assertEqual(check_docs.parse_help(old), {"summary", "move"})
        clap = ("Usage: salesctl [OPTIONS] <COMMAND>\n\nCommands:\n  summary       The pipeline\n"
                "  release-hold  Release a hold\n  help          Print this message\n\nOptions:\n  -h, --help  Print help\n")
        self.assertEqual(check_docs.parse_help(clap), {"summary", "release-hold", "help"})

    def test_an_unknown_route_fails(self):
        self.assertFails("README.md", "\n`GET /pipeline/deals`\n", "/pipeline/deals: not a route")

    def test_a_route_with_the_wrong_method_fails(self):
        self.assertFails("README.md", "\n`POST /billing/founding-spots`\n", "the template has GET for it, not POST")

    def test_a_route_in_a_url_fails_too(self):
        self.assertFails("README.md", "\ncurl http://127.0.0.1:9000/billing/founding-spot\n", "/billing/founding-spot: not a route")

    def test_the_pipeline_bare_function_url_fails(self):
        self.assertFails("README.md", "\n`curl -s http://127.0.0.1:9000/lambda-url/pipeline/`\n", "pipeline answers 404 there")

    def test_an_unknown_function_url_fails(self):
        self.assertFails("README.md", "\n`/lambda-url/founding-spot/`\n", "no function founding-spot")

    def test_a_missing_file_fails(self):
        self.assertFails("README.md", "\nSee `infra/local/nothing.py`.\n", "`infra/local/nothing.py`: no such file")

    def test_a_broken_link_and_a_broken_anchor_fail(self):
        self.assertFails("README.md", "\n[x](docs/nothing.md)\n", "docs/nothing.md does not exist")
        self.assertFails("README.md", "\n[y](docs/runbook.md#no-such-heading)\n", "no heading #no-such-heading")

    def test_a_secret_key_list_that_differs_fails(self):
        self.assertFails("docs/configuration.md",
                         "\nThe keys (`SECRET_KEYS`): `STRIPE_SECRET_KEY`, `CAL_WEBHOOK_SECRET`.\n",
                         "are not SECRET_KEYS")

    def test_an_alarm_missing_from_the_runbook_fails(self):
        self.append("infra/template.yaml", "  NewAlarm:\n    Type: AWS::CloudWatch::Alarm\n    Properties: {Threshold: 1}\n")
        self.assertTrue(any("the alarm NewAlarm" in e for e in self.errors()))

    def test_the_banner_is_checked(self):
        self.append("infra/local/dev.sh", "")
        path = os.path.join(self.root, "infra/local/dev.sh")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace('echo "    make dev"', 'echo "    make develop"'))
        self.assertTrue(any("dev.sh" in e and "`make develop`" in e for e in self.errors()), self.errors())

    def test_an_event_for_another_route_fails(self):
        with open(os.path.join(self.root, "events/pipeline/bad.json"), "w") as f:
            f.write('{"version": "2.0", "routeKey": "GET /pipeline/leads", "rawPath": "/pipeline/leads"}')
        self.assertTrue(any("routeKey 'GET /pipeline/leads' is not a route of pipeline" in e for e in self.errors()))

    def test_the_repository_itself_is_checked_by_make_test(self):
        with open(os.path.join(check_docs.ROOT, "Makefile")) as f:
            makefile = f.read()
        self.assertIn("$(VENV)/bin/python infra/local/check_docs.py", makefile)


if __name__ == "__main__":
    unittest.main()
