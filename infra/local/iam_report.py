"""After `make test`: what the template's IAM let each function do, and what it grants unused.

The local server (infra/local/aws_rules.py) checked every call the functions' code made in the
tests against that function's policy in infra/template.yaml, and kept what each used. This prints
it and fails when the template grants an action that no call needed, so the template grants what
the code needs and nothing more. (Refusals are not failures here: a test that met one failed
itself, and some tests make a refused call on purpose.)

Usage: python iam_report.py [--endpoint http://127.0.0.1:8000]
"""

import argparse
import json
import os
import sys
import urllib.request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    port = os.environ.get("DYNAMODB_PORT", "8000")
    parser.add_argument("--endpoint", default=f"http://127.0.0.1:{port}")
    args = parser.parse_args()
    with urllib.request.urlopen(f"{args.endpoint}/_local/iam", timeout=10) as answer:
        report = json.load(answer)

    def short(resource: str) -> str:
        return resource.split(":", 5)[-1]

    print(f"[iam] the template's policies ({report['template']}), as the tests used them:")
    for function in sorted(report["granted"]):
        used = report["used"].get(function, [])
        calls = ", ".join(f"{a.split(':')[1]} {short(r)}" for a, r in used) or "no calls"
        print(f"[iam]   {function}: {calls}")
    for denial in report["denied"]:
        print(f"[iam]   refused: {denial['function']} {denial['action']} on {short(denial['resource'])}")
    unused = report["unused"]
    if unused:
        for function, grants in sorted(unused.items()):
            for action, resource in grants:
                print(f"[iam] UNUSED: {function} is granted {action} on {short(resource)}, which no call needed")
        print("[iam] remove these grants from infra/template.yaml (or test the code path that needs them)")
        return 1
    print("[iam] every grant was used by some call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
