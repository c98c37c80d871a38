#!/usr/bin/env python3
"""Prints the Lambda binaries of the workspace, one per line: every bin target of a package
under functions/ (salesctl, in shared/, is a command line tool, not a Lambda).

    functions.py            names
    functions.py --json     [{"name": ..., "package": ..., "dir": ...}, ...]
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def functions():
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    found = []
    prefix = os.path.join(ROOT, "functions") + os.sep
    for package in json.loads(out)["packages"]:
        if not package["manifest_path"].startswith(prefix):
            continue
        for target in package["targets"]:
            if "bin" in target["kind"]:
                found.append({
                    "name": target["name"],
                    "package": package["name"],
                    "dir": os.path.relpath(os.path.dirname(package["manifest_path"]), ROOT),
                })
    return sorted(found, key=lambda f: f["name"])


if __name__ == "__main__":
    found = functions()
    if "--json" in sys.argv[1:]:
        print(json.dumps(found))
    else:
        for f in found:
            print(f["name"])
