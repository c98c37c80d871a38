#!/usr/bin/env python3
"""What `make deploy` decides without AWS (tested by infra/local/test_deploy.py):

    infra/deploy.py mode [--config samconfig.toml]      guided | saved
    infra/deploy.py stack [--config samconfig.toml]     <stack name> <region>
    infra/deploy.py next-steps [--config …] [--outputs outputs.json]

`mode`: the first deploy is guided (`sam deploy --guided`: it asks for the parameters and saves
them in samconfig.toml); once samconfig.toml holds the parameters that have no default
(JwtIssuer, JwtAudience), deploys run from it. GUIDED=1 in the environment forces a guided run.

`next-steps`: what to do after a deploy, with the stack's outputs filled in when the outputs file
(`sam list stack-outputs --output json`, or `aws cloudformation describe-stacks`'s answer) is
there. Standard library only (tomllib: Python 3.11).
"""

import argparse
import json
import os
import re
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(ROOT, "samconfig.toml")
# Template parameters without a default: a deploy from the config needs them saved.
REQUIRED_PARAMETERS = ("JwtIssuer", "JwtAudience")
DEFAULT_STACK, DEFAULT_REGION = "agency-sales", "ap-southeast-2"


def load_config(path):
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}


def section(config, command, env="default"):
    return config.get(env, {}).get(command, {}).get("parameters", {})


def parameter_overrides(config):
    """The saved parameter_overrides as a dict: SAM writes `Key="value" Key2="value 2"` (or a list)."""
    raw = section(config, "deploy").get("parameter_overrides") or section(config, "global").get("parameter_overrides")
    if not raw:
        return {}
    if isinstance(raw, list):
        raw = " ".join(raw)
    pairs = re.findall(r'([A-Za-z0-9]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))', raw)
    return {key: (quoted or bare).replace('\\"', '"') for key, quoted, bare in pairs}


def mode(config, environ=os.environ):
    if environ.get("GUIDED", "") not in ("", "0"):
        return "guided"
    saved = parameter_overrides(config)
    return "saved" if all(saved.get(name) for name in REQUIRED_PARAMETERS) else "guided"


def stack(config):
    deploy, common = section(config, "deploy"), section(config, "global")
    name = deploy.get("stack_name") or common.get("stack_name") or DEFAULT_STACK
    region = deploy.get("region") or common.get("region") or DEFAULT_REGION
    return name, region


def load_outputs(path):
    """{OutputKey: OutputValue} from a list of outputs or a whole describe-stacks answer; {} if absent."""
    if not path or not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if isinstance(data, dict) and "Stacks" in data:
        data = (data["Stacks"] or [{}])[0].get("Outputs", [])
    if not isinstance(data, list):
        return {}
    return {o["OutputKey"]: o.get("OutputValue", "") for o in data if isinstance(o, dict) and "OutputKey" in o}


def next_steps(config, outputs_path=None):
    name, region = stack(config)
    outputs = load_outputs(outputs_path)

    def out(key):
        return outputs.get(key) or f"<{key} output>"

    have = f"the outputs are in {outputs_path}" if outputs else (
        f"get the outputs with: sam list stack-outputs --stack-name {name} --region {region} --output json > outputs.json")
    outputs_file = outputs_path if outputs else "outputs.json"
    lines = [
        f"Deployed the stack {name} in {region}; {have}.",
        "",
        "Next, make Stripe, Cal.com and Calendly ready and fill the stack's secret, one of two ways",
        "(both end with the same secret; docs/deploying.md, \"After the deploy\"):",
        "",
        "  a) salesctl setup, which does all of it and can be run again at any time:",
        "       export STRIPE_SECRET_KEY=sk_live_... CAL_API_KEY=cal_live_... CALENDLY_TOKEN=...   # Calendly optional",
        f"       salesctl setup --outputs {outputs_file} --standard-amount-cents 9900 --dry-run   # the plan",
        f"       salesctl setup --outputs {outputs_file} --standard-amount-cents 9900",
        "     (salesctl: cargo run --release --bin salesctl -- setup ..., with AWS credentials for this",
        "     account; docs/salesctl.md). Prefer to do it yourself? Use b) instead.",
        "",
        "  b) by hand, instead of salesctl setup: create the two prices in Stripe, register the webhook",
        f"     URLs (Stripe {out('StripeWebhookUrl')}, Cal.com {out('CalWebhookUrl')},",
        f"     Calendly {out('CalendlyWebhookUrl')}), then put the values into the secret",
        f"     {out('SecretArn')}:",
        f"       aws secretsmanager put-secret-value --secret-id {out('SecretArn')} --secret-string file://secrets.json",
        "     (every key is listed in docs/configuration.md; salesctl setup would have done this for you).",
        "",
        "Then:",
        "  - confirm the alarm e-mail subscription (if AlarmEmail is set): AWS sent a message to it;",
        f"  - attach {out('PipelineApiCallerPolicyArn')} to the sales team's IAM group or roles;",
        f"  - point the landing page's widget at {out('HttpApiUrl')} (data-api-base; docs/widget.md);",
        "  - what to do when an alarm fires, and how to rotate a secret: docs/runbook.md.",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["mode", "stack", "next-steps"])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--outputs")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.what == "mode":
        print(mode(config))
    elif args.what == "stack":
        print(*stack(config))
    else:
        print(next_steps(config, args.outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
