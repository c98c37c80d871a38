#!/usr/bin/env python3
"""The README/banner command check (`make test` runs it): what README.md, docs/*.md,
infra/README.md, `make dev`'s banner (infra/local/dev.sh) and `make deploy`'s next steps
(infra/deploy.py) tell people to run or open must exist.

- every `make <target>` (in code: `spans` and fenced blocks) is a target of the Makefile;
  `make invoke FUNCTION=f EVENT=e` names a sample in events/f/e.json;
- every `salesctl <command>` is one of salesctl's commands (its `--help`, from the built
  binary if there is one, and from its source); a mention on a line that says "planned" is
  allowed, for commands that are announced but not built yet;
- every route (`/billing/…`, `/pipeline/…`, `/founding/…`, with `GET`/`POST`/… when it is written
  next to one) is an HttpApi route of infra/template.yaml; `/lambda-url/<function>/…` names a
  function of the template, and a function that routes by path (pipeline) needs a route after
  its name: its bare URL answers 404;
- every repo path in code (`infra/template.yaml`, `events/pipeline/summary.json`, …) exists;
- every relative Markdown link (and its #anchor) resolves;
- the list of the stack secret's keys the docs give (a paragraph with "`SECRET_KEYS`:") is
  exactly `SECRET_KEYS` in shared/src/lambda/config.rs;
- every sample event in events/ belongs to a function and, if it names a route, to one of that
  function's routes.

No network, no AWS, standard library and PyYAML (the venv's). Exit 1 with one line per problem.

    .venv/bin/python infra/local/check_docs.py [--root DIR]
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cfn_template  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))

# Generated or machine-local: never committed, so never checked as paths.
GENERATED = {"target", ".local", ".venv", ".git", ".aws-sam", ".env.dev", "outputs.json", "node_modules"}
ROUTE_ROOTS = ("billing", "pipeline", "founding")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
PLACEHOLDER = re.compile(r"[<>{}…*$]|\.\.\.")

# Variables of dev.sh's banner, as `make dev` sets them by default.
BANNER_VARS = {
    "base": "http://127.0.0.1:9000", "STRIPE_STANDIN_PORT": "12111", "DYNAMODB_PORT": "8000",
    "TABLE_NAME": "agency-sales", "python": "python3", "concurrency": "4", "watch_port": "9000",
    "landing": "http://127.0.0.1:8080/",
}


# ---------------------------------------------------------------------------------------------
# What is defined
# ---------------------------------------------------------------------------------------------

def make_targets(root):
    targets = set()
    with open(os.path.join(root, "Makefile")) as f:
        for line in f:
            if line.startswith(("\t", "#", " ")):
                continue
            m = re.match(r"^([A-Za-z0-9_./%-]+(?:\s+[A-Za-z0-9_./%-]+)*)\s*::?(?!=)", line)
            if m:
                targets.update(m.group(1).split())
    return targets


class Template:
    def __init__(self, path):
        doc = cfn_template.load_template(path)
        self.functions = {}      # binary name -> [(method, path segments)]
        self.alarms = {name for name, resource in (doc.get("Resources") or {}).items()
                       if resource.get("Type") == "AWS::CloudWatch::Alarm"}
        for resource in (doc.get("Resources") or {}).values():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
            if not binary:
                continue
            routes = self.functions.setdefault(binary, [])
            for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
                if event.get("Type") == "HttpApi":
                    props = event.get("Properties") or {}
                    routes.append((str(props.get("Method", "ANY")).upper(), split_path(props.get("Path", "/"))))

    def routes(self):
        return [route for routes in self.functions.values() for route in routes]


def split_path(path):
    return [segment for segment in path.split("/") if segment]


def is_param(segment):
    return bool(re.fullmatch(r"\{[^}]+\}|<[^>]+>|:[a-z_]+", segment))


def is_wildcard(segment):
    return segment in ("*", "…", "...", "*/*") or segment.endswith(("…", "*"))


def route_matches(doc_segments, route_segments, prefix_ok=False):
    for i, segment in enumerate(doc_segments):
        if is_wildcard(segment):
            return len(route_segments) >= i
        if i >= len(route_segments):
            return False
        wanted = route_segments[i]
        if is_param(wanted):
            continue                      # a literal (7) or a placeholder ({spot}) fills a parameter
        if segment != wanted:
            return False
    return len(doc_segments) == len(route_segments) or (prefix_ok and len(route_segments) > len(doc_segments))


def salesctl_commands(root):
    """(commands, where they came from): the built binary's --help and the source, together."""
    commands, sources = set(), []
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(root, "target")
    binary = os.path.join(target_dir, "debug", "salesctl")
    if os.access(binary, os.X_OK):
        try:
            out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30,
                                 env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")})
            found = parse_help(out.stdout + out.stderr)
            if found:
                commands |= found
                sources.append(os.path.relpath(binary, root) + " --help")
        except (OSError, subprocess.TimeoutExpired):
            pass
    files = glob.glob(os.path.join(root, "salesctl", "src", "**", "*.rs"), recursive=True)
    files += glob.glob(os.path.join(root, "shared", "src", "bin", "salesctl.rs"))
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        found = set()
        usage = re.search(r'const USAGE: &str = "(.*?)";', text, re.S)
        if usage:
            found |= parse_help(usage.group(1))
        found |= clap_subcommands(text)
        if found:
            commands |= found
            sources.append(os.path.relpath(path, root))
    if commands:
        commands.add("help")
    return commands, sources


def parse_help(text):
    """Commands from clap's help (a `Commands:` section) or from the hand-written usage (lines
    `  name …` indented by two spaces)."""
    found = set()
    lines = text.splitlines()
    if any(re.match(r"^(Commands|Subcommands):\s*$", line) for line in lines):
        inside = False
        for line in lines:
            if re.match(r"^(Commands|Subcommands):\s*$", line):
                inside = True
                continue
            if inside:
                if not line.strip() or re.match(r"^\S", line):
                    inside = False
                    continue
                m = re.match(r"^ {2}([a-z][a-z0-9-]*)\b", line)
                if m:
                    found.add(m.group(1))
        return found
    for line in lines:
        m = re.match(r"^ {2}([a-z][a-z0-9-]*)(?:\s|$)", line)
        if m:
            found.add(m.group(1))
    return found


def clap_subcommands(text):
    """Variants of every `#[derive(… Subcommand …)] enum` (kebab-case, or `name = "…"`)."""
    found = set()
    for m in re.finditer(r"#\[derive\([^\]]*\bSubcommand\b[^\]]*\)\](.*?)\benum\s+\w+\s*\{", text, re.S):
        depth, i, body_start = 1, m.end(), m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[body_start:i - 1]
        depth, pending_name = 0, None
        for line in body.splitlines():
            stripped = line.strip()
            if depth == 0:
                named = re.match(r'#\[command\(.*\bname\s*=\s*"([^"]+)"', stripped)
                if named:
                    pending_name = named.group(1)
                variant = re.match(r"([A-Z][A-Za-z0-9]*)\s*(?:[({,]|$)", stripped)
                if variant:
                    found.add(pending_name or re.sub(r"(?<!^)(?=[A-Z])", "-", variant.group(1)).lower())
                    pending_name = None
            depth += stripped.count("{") + stripped.count("(") - stripped.count("}") - stripped.count(")")
            depth = max(depth, 0)
    return found


def secret_keys(root):
    with open(os.path.join(root, "shared", "src", "lambda", "config.rs")) as f:
        text = f.read()
    m = re.search(r"pub const SECRET_KEYS: \[&str; \d+\] = \[(.*?)\];", text, re.S)
    return re.findall(r'"([A-Z0-9_]+)"', m.group(1)) if m else []


# ---------------------------------------------------------------------------------------------
# What the documents say
# ---------------------------------------------------------------------------------------------

class Doc:
    """A document's code (spans and fenced lines, by line number), prose and links."""

    def __init__(self, name, text, markdown=True):
        self.name, self.text = name, text
        self.code = []      # (line number, code text)
        self.links = []     # (line number, target)
        self.anchors = set()
        self.lines = text.splitlines()
        if not markdown:
            self.code = list(enumerate(self.lines, 1))
            return
        fenced = False
        counts = {}
        for number, line in enumerate(self.lines, 1):
            if re.match(r"^\s*(```|~~~)", line):
                fenced = not fenced
                continue
            if fenced:
                self.code.append((number, line))
                continue
            heading = re.match(r"^#{1,6}\s+(.*)$", line)
            if heading:
                slug = github_slug(heading.group(1))
                n = counts.get(slug, 0)
                counts[slug] = n + 1
                self.anchors.add(slug if n == 0 else f"{slug}-{n}")
            for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", line):
                self.code.append((number, span))
            prose = re.sub(r"`[^`\n]+`", "", line)
            for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", prose):
                self.links.append((number, target))


def github_slug(heading):
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def banner_doc(root):
    """dev.sh's banner() as the lines it prints, with the default settings filled in. Lines that
    depend on the loop over functions ($f) are left out (they are checked by their pattern)."""
    path = os.path.join(root, "infra", "local", "dev.sh")
    with open(path) as f:
        text = f.read()
    m = re.search(r"^banner\(\) \{\n(.*?)^\}", text, re.S | re.M)
    lines = []
    for line in (m.group(1).splitlines() if m else []):
        if not re.search(r"\b(echo|say|printf)\b", line) or re.search(r"\$\{?f\b", line):
            lines.append("")
            continue
        for name, value in BANNER_VARS.items():
            line = re.sub(r"\$\{?" + name + r"\}?(?![A-Za-z0-9_])", value, line)
        lines.append(line.replace('\\"', '"').replace("\\$", "$"))
    return Doc("infra/local/dev.sh (make dev's banner)", "\n".join(lines), markdown=False)


def deploy_doc(root):
    """What `make deploy` prints after a deploy (infra/deploy.py next-steps)."""
    path = os.path.join(root, "infra", "deploy.py")
    if not os.path.exists(path):
        return None
    sys.path.insert(0, os.path.dirname(path))
    try:
        import importlib
        import deploy
        importlib.reload(deploy)
        text = deploy.next_steps({}, None)
    finally:
        sys.path.pop(0)
    return Doc("infra/deploy.py (make deploy's next steps)", text, markdown=False)


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------

class Checker:
    def __init__(self, root):
        self.root = root
        self.errors = []
        self.counts = {"make targets": 0, "salesctl commands": 0, "routes": 0, "paths": 0, "links": 0, "events": 0}
        self.targets = make_targets(root)
        self.template = Template(os.path.join(root, "infra", "template.yaml"))
        self.commands, self.command_sources = salesctl_commands(root)
        self.top_level = {entry for entry in os.listdir(root) if entry not in GENERATED} | {"docs", "salesctl"}

    def error(self, doc, number, message):
        self.errors.append(f"{doc.name}:{number}: {message}")

    def documents(self):
        names = ["README.md", "infra/README.md"] + sorted(
            os.path.relpath(p, self.root) for p in glob.glob(os.path.join(self.root, "docs", "*.md")))
        docs = []
        for name in names:
            path = os.path.join(self.root, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    docs.append(Doc(name, f.read()))
        docs.append(banner_doc(self.root))
        deploy = deploy_doc(self.root)
        if deploy:
            docs.append(deploy)
        return docs

    def run(self):
        docs = self.documents()
        for doc in docs:
            for number, code in doc.code:
                self.check_make(doc, number, code)
                self.check_salesctl(doc, number, code)
                self.check_paths(doc, number, code)
            self.check_routes(doc)
            self.check_links(doc)
        self.check_secret_keys([d for d in docs if d.name.endswith(".md")])
        self.check_alarms()
        self.check_events()
        return self.errors

    # make <target>
    def check_make(self, doc, number, code):
        for m in re.finditer(r"(?:^|[\s;&|(`$])make\s+((?:(?:-[-\w]+|[A-Z_][A-Z0-9_]*=\S*)\s+)*)([a-z0-9][a-z0-9-]*)((?:\s+[A-Z_][A-Z0-9_]*=\S+)*)", code):
            target = m.group(2)
            self.counts["make targets"] += 1
            if target not in self.targets:
                self.error(doc, number, f"`make {target}`: no such target in the Makefile")
                continue
            if target == "invoke":
                args = dict(re.findall(r"([A-Z_]+)=(\S+)", m.group(1) + " " + m.group(3)))
                function, event = args.get("FUNCTION", ""), args.get("EVENT", "").strip("'\"")
                if function and event and not PLACEHOLDER.search(function + event):
                    path = event if os.path.isfile(os.path.join(self.root, event)) else f"events/{function}/{event}.json"
                    if not os.path.isfile(os.path.join(self.root, path)):
                        self.error(doc, number, f"`make invoke FUNCTION={function} EVENT={event}`: no {path}")

    # salesctl <command>
    def check_salesctl(self, doc, number, code):
        line = doc.lines[number - 1] if number - 1 < len(doc.lines) else code
        # salesctl where a shell would run it: at the start (after `$ ` or VAR=… assignments), after
        # ; && | (, or as cargo's --bin / -p; "puts salesctl into …" in a comment is prose.
        for m in re.finditer(r"(?:^\s*(?:\$\s+)?(?:[A-Z_][A-Z0-9_]*=\S*\s+)*|[;&|(]\s*|(?:--bin|-p)\s+)salesctl(?:\s+--)?\s+([a-z][a-z0-9-]*)\b", code):
            command = m.group(1)
            self.counts["salesctl commands"] += 1
            if "planned" in line.lower():
                continue
            if not self.commands:
                self.error(doc, number, "salesctl's commands could not be read (no binary, no source)")
            elif command not in self.commands:
                self.error(doc, number, f"`salesctl {command}`: not a salesctl command (known: {', '.join(sorted(self.commands))}; from {', '.join(self.command_sources)})")

    # repo paths
    def check_paths(self, doc, number, code):
        for token in re.split(r"[\s=]+", code):
            token = token.strip("'\"()[],;:`")
            token = re.sub(r"'s$", "", token).rstrip(".")
            if "/" not in token or "://" in token or PLACEHOLDER.search(token.replace("*", "")):
                continue
            if token.startswith("./"):
                token = token[2:]
            first = token.split("/", 1)[0]
            if first not in self.top_level or not re.fullmatch(r"[\w.\-/*]+", token):
                continue
            self.counts["paths"] += 1
            full = os.path.join(self.root, token)
            if "*" in token:
                if not glob.glob(full):
                    self.error(doc, number, f"`{token}`: matches no file")
            elif not os.path.exists(full):
                self.error(doc, number, f"`{token}`: no such file or directory")

    # routes and function URLs
    def check_routes(self, doc):
        functions = self.template.functions
        for number, line in enumerate(doc.lines, 1):
            text = re.sub(r"https?://[^/\s`'\"]+", " ", line)
            for m in re.finditer(r"(?:\b(" + "|".join(METHODS) + r")`?\s+`?)?(?<![\w.\-/~:])/(billing|pipeline|founding|lambda-url)(/[^\s`'\"),;|\]?#]*)?", text):
                method, root, rest = m.group(1), m.group(2), (m.group(3) or "").rstrip(".:")
                if root == "lambda-url":
                    self.check_function_url(doc, number, rest)
                    continue
                segments = [root] + split_path(rest)
                self.counts["routes"] += 1
                shown = "/" + "/".join(segments)
                routes = [(meth, path) for meth, path in self.template.routes() if route_matches(segments, path)]
                if not routes:
                    self.error(doc, number, f"{shown}: not a route of infra/template.yaml's HTTP API")
                elif method and not any(meth in (method, "ANY") for meth, _ in routes):
                    self.error(doc, number, f"{method} {shown}: the template has {', '.join(sorted({meth for meth, _ in routes}))} for it, not {method}")
        del functions

    def check_function_url(self, doc, number, rest):
        segments = split_path(rest)
        if not segments:
            return
        name, after = segments[0], segments[1:]
        self.counts["routes"] += 1
        if PLACEHOLDER.search(name) or is_param(name):
            return
        if name not in self.template.functions:
            self.error(doc, number, f"/lambda-url/{name}/: no function {name} in infra/template.yaml")
            return
        routes = self.template.functions[name]
        if len(routes) > 1 and not any(is_wildcard(s) or PLACEHOLDER.search(s) for s in after):
            # A function with several routes finds its answer by the path: the bare URL is a 404.
            if not any(route_matches(after, path) for _, path in routes):
                shown = "/" + "/".join(after) if after else "nothing"
                self.error(doc, number, f"/lambda-url/{name}/ followed by {shown}: {name} answers 404 there (give one of its routes after the name)")

    # Markdown links
    def check_links(self, doc):
        base = os.path.dirname(os.path.join(self.root, doc.name))
        for number, target in doc.links:
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                continue
            self.counts["links"] += 1
            path, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(base, path)) if path else os.path.join(self.root, doc.name)
            if not os.path.exists(full):
                self.error(doc, number, f"link ({target}): {os.path.relpath(full, self.root)} does not exist")
                continue
            if anchor and full.endswith(".md"):
                with open(full, encoding="utf-8") as f:
                    anchors = Doc(full, f.read()).anchors
                if anchor not in anchors:
                    self.error(doc, number, f"link ({target}): no heading #{anchor} in {os.path.relpath(full, self.root)}")

    # the secret's keys
    def check_secret_keys(self, docs):
        keys = secret_keys(self.root)
        seen = False
        for doc in docs:
            for paragraph_start, paragraph in paragraphs(doc.lines):
                m = re.search(r"`SECRET_KEYS`[^:\n]*:", paragraph)
                if not m:
                    continue
                seen = True
                sentence = re.split(r"\.(?:\s|$)", paragraph[m.end():], maxsplit=1)[0]
                listed = re.findall(r"`([A-Z][A-Z0-9_]+)`", sentence)
                if listed != keys:
                    self.error(doc, paragraph_start, f"the secret's keys listed here ({', '.join(listed)}) are not SECRET_KEYS in shared/src/lambda/config.rs ({', '.join(keys)})")
        if keys and not seen:
            self.errors.append("docs: no paragraph lists the secret's keys (\"`SECRET_KEYS`: `KEY`, …\")")

    # the runbook names every alarm of the template
    def check_alarms(self):
        path = os.path.join(self.root, "docs", "runbook.md")
        text = ""
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                text = f.read()
        for alarm in sorted(self.template.alarms):
            if not re.search(r"`" + re.escape(alarm) + r"`", text):
                self.errors.append(f"docs/runbook.md: the alarm {alarm} (infra/template.yaml) is not described")

    # events/
    def check_events(self):
        for path in sorted(glob.glob(os.path.join(self.root, "events", "*", "*.json"))):
            name = os.path.relpath(path, self.root)
            function = os.path.basename(os.path.dirname(path))
            self.counts["events"] += 1
            if function not in self.template.functions:
                self.errors.append(f"{name}: no function {function} in infra/template.yaml")
                continue
            try:
                with open(path) as f:
                    event = json.load(f)
            except ValueError as e:
                self.errors.append(f"{name}: not JSON ({e})")
                continue
            route_key = event.get("routeKey", "$default")
            if route_key == "$default" or not self.template.functions[function]:
                continue            # a function URL's event (the webhooks have no API route)
            method, _, route = route_key.partition(" ")
            wanted = (method, split_path(route))
            if wanted not in self.template.functions[function]:
                self.errors.append(f"{name}: routeKey {route_key!r} is not a route of {function} in infra/template.yaml")
            raw = split_path(event.get("rawPath", ""))
            if not route_matches(raw, wanted[1]):
                self.errors.append(f"{name}: rawPath {event.get('rawPath')!r} does not fit its routeKey {route_key!r}")


def paragraphs(lines):
    start, current = 1, []
    for number, line in enumerate(lines, 1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            yield start, "\n".join(current)
            current = []
    if current:
        yield start, "\n".join(current)


def check(root=ROOT):
    checker = Checker(root)
    return checker.run(), checker


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=ROOT)
    args = parser.parse_args(argv)
    errors, checker = check(args.root)
    for error in errors:
        print(error, file=sys.stderr)
    summary = ", ".join(f"{n} {what}" for what, n in checker.counts.items())
    if errors:
        print(f"check_docs: {len(errors)} problem(s) ({summary} checked)", file=sys.stderr)
        return 1
    print(f"check_docs: README.md, docs/, infra/README.md, make dev's banner, make deploy's next steps: "
          f"{summary} checked, all defined (salesctl from {', '.join(checker.command_sources)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
