#!/usr/bin/env python3
"""Checks that the function's IAM policy in template.yaml allows exactly the EC2
operations the Rust code calls: nothing missing, nothing extra, no wildcards.

cfn-lint does not know which API calls the code makes (and does not flag a
made-up IAM action), so this script reads both sides:

* the code: every SDK operation called on an EC2 client in src/**/*.rs, i.e.
  `client.describe_instances()` / `self.client\n    .replace_route()` /
  `ec2.client().describe_vpcs()`, with test-only code (`#[cfg(test)]` items and
  modules) left out; snake_case maps to the IAM action, `ec2:PascalCase`;
* the template (loaded with cfnlint.decode, which understands !Sub, !If ...):
  every statement that reaches the function's role: the function's inline
  `Policies`, an explicit `Role`'s policies, and AWS::IAM::RolePolicy/Policy
  resources attached to that role (including those inside Fn::ForEach).
  Policy documents given as a JSON string (`!Sub |` {...}) are parsed too, with
  parameters replaced by their defaults.

Run with the .venv python (cfn-lint, and botocore for the EC2 operation list):

    .venv/bin/python scripts/check_policy.py            # the checks
    .venv/bin/python scripts/check_policy.py --self-test # proves they catch drift

Both print one line per check and end with `N passed, M failed`; the exit
status is 1 when anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent

# Pseudo parameters used when a JSON-string policy document is parsed.
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "vip-failover",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/vip-failover/x",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": "",
}

# Method names reached through a client that are never API operations; only used
# when botocore (the authoritative EC2 operation list) is not importable.
NON_OPERATIONS = {"clone", "config", "as_ref", "to_owned", "into", "borrow", "fmt"}

# EC2 actions that only read; any other action must not be granted on "*".
READ_ONLY_PREFIXES = ("Describe", "Get", "List", "Search")


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass
class Report:
    results: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, ok: bool, message: str) -> bool:
        self.results.append((bool(ok), message))
        return bool(ok)

    @property
    def failed(self) -> list[str]:
        return [m for ok, m in self.results if not ok]

    @property
    def passed(self) -> int:
        return sum(1 for ok, _ in self.results if ok)

    def print(self, out=sys.stdout) -> None:
        for ok, message in self.results:
            print(f"{'PASS' if ok else 'FAIL'}: {message}", file=out)
        print(f"{self.passed} passed, {len(self.failed)} failed", file=out)


# ---------------------------------------------------------------------------
# EC2 operation names
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def ec2_operations() -> dict[str, str] | None:
    """snake_case -> PascalCase for every EC2 API operation, from botocore."""
    try:
        import botocore.session
        from botocore import xform_name
    except ImportError:
        return None
    model = botocore.session.get_session().get_service_model("ec2")
    return {xform_name(name): name for name in model.operation_names}


@functools.lru_cache(maxsize=None)
def iam_ec2_actions() -> set[str] | None:
    """Lower-case names of every IAM action of the ec2 service, from cfn-lint's data."""
    try:
        import cfnlint.data.AdditionalSpecs as specs
    except ImportError:
        return None
    path = Path(specs.__file__).parent / "Policies.json"
    try:
        data = json.loads(path.read_text())
        return {name.lower() for name in data["ec2"]["Actions"]}
    except (OSError, KeyError, ValueError):
        return None


def pascal(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


# ---------------------------------------------------------------------------
# Rust source scanning
# ---------------------------------------------------------------------------


RAW_STRING = re.compile(r'b?r(#*)"')
CHAR_LITERAL = re.compile(r"'(\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'")


def blank_comments_and_literals(text: str) -> str:
    """Replaces comments and the contents of string/char literals with spaces,
    keeping offsets and newlines, so braces and call patterns inside them are
    not mistaken for code."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c in "br" and (m := RAW_STRING.match(text, i)) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = text.find('"' + m.group(1), m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            blank(m.end(), end - 1 - len(m.group(1)))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}', '{'); otherwise a lifetime.
            m = CHAR_LITERAL.match(text, i)
            if m:
                blank(i + 1, m.end() - 1)
                i = m.end()
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")


def strip_test_code(code: str) -> tuple[str, list[str]]:
    """Removes every item annotated `#[cfg(test)]` (a `mod tests { ... }`, a fn,
    an impl). Returns the remaining code and the names of `#[cfg(test)] mod x;`
    declarations, whose files are test-only as a whole."""
    test_modules: list[str] = []
    while (m := CFG_TEST.search(code)) is not None:
        start, i = m.start(), m.end()
        # The item ends at its matching closing brace, or at `;` for a declaration.
        depth = 0
        end = len(code)
        while i < len(code):
            c = code[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    end = i + 1
                    break
            elif c == ";" and depth == 0:
                end = i + 1
                decl = re.search(r"\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;$", code[m.end():end])
                if decl:
                    test_modules.append(decl.group(1))
                break
            i += 1
        code = code[:start] + re.sub(r"[^\n]", " ", code[start:end]) + code[end:]
    return code, test_modules


CLIENT_CALL = re.compile(r"client(?:\s*\(\s*\))?\s*\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)")
ANY_CALL = re.compile(r"\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)")


@dataclass
class CodeScan:
    operations: dict[str, set[str]]  # PascalCase op -> files calling it
    ignored: set[str]  # client methods that are not operations
    files: list[str]  # files of the Lambda binary's crate targets that were scanned
    roots: list[str]  # crate roots the module tree was walked from


MOD_DECL = re.compile(r"(?:#\s*\[\s*path\s*=\s*\"[^\"\n]*\"\s*\]\s*)?(?:pub(?:\s*\([^)]*\))?\s+)?\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;")
PATH_ATTR = re.compile(r'#\s*\[\s*path\s*=\s*"([^"\n]*)"\s*\]')


def crate_roots(crate_dir: Path, src: Path, binary: str | None) -> list[Path] | None:
    """The library root and the root of the Lambda binary (the one the template
    builds), from Cargo.toml; None when that cannot be worked out."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        return None
    manifest = crate_dir / "Cargo.toml"
    try:
        cargo = tomllib.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    package = cargo.get("package", {}).get("name")
    binary = binary or package
    roots: list[Path] = []
    lib = cargo.get("lib", {}).get("path") or ("src/lib.rs" if (crate_dir / "src/lib.rs").is_file() else None)
    if lib:
        roots.append(crate_dir / lib)
    bins = cargo.get("bin", [])
    chosen = [b.get("path") or f"src/bin/{b['name']}.rs" for b in bins if b.get("name") == binary]
    if not chosen and binary == package and (crate_dir / "src/main.rs").is_file():
        chosen = ["src/main.rs"]
    if not chosen:
        return None
    roots.append(crate_dir / chosen[0])
    # Keep the roots inside the directory being scanned (the self-test scans a copy).
    return [src / p.resolve().relative_to((crate_dir / "src").resolve()) for p in roots]


def module_tree(root: Path, prepared: dict[Path, tuple[str, str]]) -> list[Path]:
    """Every file reachable from a crate root through `mod x;` declarations
    (honouring #[path]), skipping `#[cfg(test)]` ones."""
    seen: list[Path] = []
    todo = [root.resolve()]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.append(path)
        if path not in prepared:
            raw = path.read_text(encoding="utf-8")
            prepared[path] = (raw, strip_test_code(blank_comments_and_literals(raw))[0])
        raw, code = prepared[path]
        # A crate root and mod.rs own their directory; foo.rs owns foo/.
        child_dir = path.parent if path == root.resolve() or path.name == "mod.rs" else path.with_suffix("")
        for m in MOD_DECL.finditer(code):
            attr = PATH_ATTR.match(raw, m.start())
            name = m.group(1)
            if attr and m.group(0).lstrip().startswith("#"):
                todo.append((path.parent / attr.group(1)).resolve())
            else:
                todo.extend([(child_dir / f"{name}.rs").resolve(), (child_dir / name / "mod.rs").resolve()])
    return seen


def scan_code(src: Path, operations: dict[str, str] | None, binary: str | None = None) -> CodeScan:
    prepared: dict[Path, tuple[str, str]] = {}
    roots = crate_roots(src.parent, src, binary)
    if roots:
        files = sorted({f for r in roots for f in module_tree(r, prepared)})
    else:
        files = sorted(p.resolve() for p in src.rglob("*.rs"))
    found: dict[str, set[str]] = {}
    ignored: set[str] = set()
    for path in files:
        if path not in prepared:
            raw = path.read_text(encoding="utf-8")
            prepared[path] = (raw, strip_test_code(blank_comments_and_literals(raw))[0])
        code = prepared[path][1]
        rel = os.path.relpath(path, src.parent.resolve())
        names = set(CLIENT_CALL.findall(code))
        if operations is not None:
            # A call through a differently named client still counts: any
            # zero-argument call whose name is an EC2 operation.
            names |= {n for n in ANY_CALL.findall(code) if n in operations}
        for name in names:
            if operations is not None:
                if name not in operations:
                    ignored.add(name)
                    continue
                op = operations[name]
            else:
                if name in NON_OPERATIONS:
                    ignored.add(name)
                    continue
                op = pascal(name)
            found.setdefault(op, set()).add(rel)
    return CodeScan(
        operations=found,
        ignored=ignored,
        files=[os.path.relpath(p, src.parent.resolve()) for p in files],
        roots=[os.path.relpath(r, src.parent) for r in roots] if roots else ["every file under " + str(src)],
    )


# ---------------------------------------------------------------------------
# Template reading
# ---------------------------------------------------------------------------


def load_template(path: Path) -> tuple[dict | None, list[str]]:
    try:
        from cfnlint.decode import decode
    except ImportError:
        return None, ["cfn-lint is not importable; run with .venv/bin/python (make tools)"]
    template, matches = decode(str(path))
    errors = [str(m) for m in (matches or [])]
    if template is None and not errors:
        errors = [f"could not load {path}"]
    return template, errors


def iter_resources(resources: Any, loop_vars: dict[str, str] | None = None) -> Iterator[tuple[str, dict, dict[str, str]]]:
    """(logical id, resource, ForEach identifiers) including resources generated
    by Fn::ForEach, whose identifiers are given a sample value."""
    loop_vars = dict(loop_vars or {})
    if not isinstance(resources, dict):
        return
    for key, value in resources.items():
        if isinstance(key, str) and key.startswith("Fn::ForEach::"):
            if isinstance(value, list) and len(value) == 3 and isinstance(value[2], dict):
                inner = {**loop_vars, str(value[0]): "rtb-0123456789abcdef0"}
                yield from iter_resources(value[2], inner)
        elif isinstance(value, dict):
            yield str(key), value, loop_vars


def ref_target(value: Any) -> str | None:
    """Logical id named by {Ref: X} or {Fn::GetAtt: [X, ...]}."""
    if isinstance(value, dict) and len(value) == 1:
        (k, v), = value.items()
        if k == "Ref" and isinstance(v, str):
            return v
        if k == "Fn::GetAtt":
            if isinstance(v, list) and v:
                return str(v[0])
            if isinstance(v, str):
                return v.split(".")[0]
    return None


def substitute(text: str, variables: dict[str, str]) -> str:
    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in variables:
            return variables[name]
        return "SUB_" + re.sub(r"[^A-Za-z0-9]", "_", name)

    return re.sub(r"\$\{([^}]*)\}", repl, text)


def resolve_document(doc: Any, variables: dict[str, str]) -> Any:
    """A policy document as a dict: given inline, as a JSON string, or as a
    Fn::Sub / Fn::ToJsonString of one."""
    if isinstance(doc, dict) and len(doc) == 1:
        (k, v), = doc.items()
        if k == "Fn::Sub":
            if isinstance(v, list) and v:
                extra = {str(n): (x if isinstance(x, str) else "SUB") for n, x in (v[1] if len(v) > 1 and isinstance(v[1], dict) else {}).items()}
                return json.loads(substitute(str(v[0]), {**variables, **extra}))
            return json.loads(substitute(str(v), variables))
        if k == "Fn::ToJsonString":
            return resolve_document(v, variables)
    if isinstance(doc, str):
        return json.loads(doc)
    return doc


def if_branches(value: Any) -> list[Any]:
    """Both branches of a Fn::If (minus AWS::NoValue); the value itself otherwise."""
    if isinstance(value, dict) and list(value.keys()) == ["Fn::If"]:
        branches = value["Fn::If"]
        if isinstance(branches, list) and len(branches) == 3:
            out = []
            for b in branches[1:]:
                if isinstance(b, dict) and b.get("Ref") == "AWS::NoValue":
                    continue
                out.extend(if_branches(b))
            return out
    return [value]


@dataclass
class Statement:
    where: str
    actions: list[str]
    resources: list[Any]
    condition: Any


def statements_of(doc: dict, where: str) -> list[Statement]:
    raw = doc.get("Statement", [])
    raw = raw if isinstance(raw, list) else [raw]
    out = []
    for n, stmt in enumerate(s for item in raw for s in if_branches(item)):
        if not isinstance(stmt, dict):
            continue
        name = f"{where} statement {stmt.get('Sid', n)}"
        if stmt.get("Effect") != "Allow":
            continue
        actions: list[str] = []
        for key in ("Action", "NotAction"):
            value = stmt.get(key)
            if value is None:
                continue
            for item in value if isinstance(value, list) else [value]:
                for leaf in if_branches(item):
                    actions.append(("NotAction:" if key == "NotAction" else "") + (leaf if isinstance(leaf, str) else json.dumps(leaf, default=str)))
        resources = stmt.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        out.append(Statement(name, actions, resources, stmt.get("Condition")))
    return out


@dataclass
class PolicyScan:
    function: str
    statements: list[Statement]
    problems: list[str]
    tag_prefix_default: str | None
    binary: str | None  # Metadata.BuildProperties.Binary: the crate binary deployed


def scan_policy(template: dict, function_id: str | None) -> PolicyScan:
    resources = template.get("Resources", {}) or {}
    params = template.get("Parameters", {}) or {}
    variables = dict(PSEUDO_PARAMETERS)
    for name, spec in params.items():
        if isinstance(spec, dict) and "Default" in spec:
            default = spec["Default"]
            variables[str(name)] = ",".join(map(str, default)) if isinstance(default, list) else str(default)
    problems: list[str] = []
    all_resources = list(iter_resources(resources))
    functions = [
        (lid, res)
        for lid, res, _ in all_resources
        if res.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function")
        and (function_id is None or lid == function_id)
    ]
    if len(functions) != 1:
        found = ", ".join(lid for lid, _ in functions) or "none"
        raise LookupError(f"expected exactly one function{' named ' + function_id if function_id else ''}, found {found}; use --function")
    fid, fn = functions[0]
    props = fn.get("Properties", {}) or {}
    statements: list[Statement] = []

    def add_document(doc: Any, where: str, loop_vars: dict[str, str]) -> None:
        try:
            parsed = resolve_document(doc, {**variables, **loop_vars})
        except (ValueError, TypeError) as e:
            problems.append(f"{where}: policy document is not readable JSON ({e})")
            return
        if not isinstance(parsed, dict):
            problems.append(f"{where}: policy document is not an object")
            return
        statements.extend(statements_of(parsed, where))

    role_id: str | None = None
    if fn.get("Type") == "AWS::Serverless::Function":
        policies = props.get("Policies", [])
        policies = policies if isinstance(policies, list) else [policies]
        for n, item in enumerate(p for pol in policies for p in if_branches(pol)):
            where = f"{fid}.Policies[{n}]"
            if isinstance(item, dict) and "Statement" in item:
                add_document(item, where, {})
            elif isinstance(item, str):
                problems.append(f"{where}: managed policy {item!r} cannot be checked; use inline statements")
            else:
                problems.append(f"{where}: policy template or intrinsic {json.dumps(item, default=str)[:80]} cannot be checked; use inline statements")
        role_id = f"{fid}Role" if "Role" not in props else None
    if "Role" in props:
        role_id = ref_target(props["Role"])
        if role_id is None:
            problems.append(f"{fid}.Role is not a resource of this template; its policy cannot be checked")
    if role_id:
        for lid, res, loop_vars in all_resources:
            rtype = res.get("Type")
            rprops = res.get("Properties", {}) or {}
            if rtype == "AWS::IAM::Role" and lid == role_id:
                for n, pol in enumerate(rprops.get("Policies", []) or []):
                    for p in if_branches(pol):
                        if isinstance(p, dict):
                            add_document(p.get("PolicyDocument"), f"{lid}.Policies[{n}]", loop_vars)
                for arn in rprops.get("ManagedPolicyArns", []) or []:
                    problems.append(f"{lid}: managed policy {json.dumps(arn, default=str)} cannot be checked")
            elif rtype in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                roles = [rprops.get("RoleName")] + list(rprops.get("Roles", []) or [])
                if any(ref_target(r) == role_id for r in roles if r is not None):
                    add_document(rprops.get("PolicyDocument"), lid, loop_vars)
    tag_prefix = params.get("TagPrefix", {}).get("Default") if isinstance(params.get("TagPrefix"), dict) else None
    build = (fn.get("Metadata", {}) or {}).get("BuildProperties", {}) or {}
    binary = build.get("Binary") if isinstance(build.get("Binary"), str) else None
    return PolicyScan(fid, statements, problems, tag_prefix, binary)


def resource_is_star(resource: Any) -> bool:
    if isinstance(resource, str):
        return resource == "*" or re.fullmatch(r"arn:[^:]*:ec2:[^:]*:[^:]*:\*", resource) is not None
    return False


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------


def run_checks(template_path: Path, src: Path, function_id: str | None = None) -> Report:
    report = Report()
    template, errors = load_template(template_path)
    if not report.check(template is not None and not errors, f"{template_path.name} loads with cfnlint.decode" + (f": {'; '.join(errors)}" if errors else "")):
        return report
    try:
        policy = scan_policy(template, function_id)
    except LookupError as e:
        report.check(False, str(e))
        return report
    report.check(not policy.problems, f"every policy reaching {policy.function}'s role is inline and readable" + (": " + "; ".join(policy.problems) if policy.problems else f" ({len(policy.statements)} allow statements)"))

    operations = ec2_operations()
    if not report.check(src.is_dir(), f"source directory {src} exists"):
        return report
    code = scan_code(src, operations, policy.binary)
    called = set(code.operations)
    source_note = "botocore EC2 model" if operations is not None else "name heuristics (botocore missing)"
    report.check(
        bool(called),
        f"src calls {len(called)} EC2 operations ({', '.join(sorted(called)) or 'none: extraction is broken'}; "
        f"identified by {source_note}; {len(code.files)} files reachable from {', '.join(code.roots)}, #[cfg(test)] code skipped"
        + (f"; non-operations ignored: {', '.join(sorted(code.ignored))}" if code.ignored else "")
        + ")",
    )

    # Every action granted, by lower-case name (IAM action names are case-insensitive).
    granted: dict[str, list[str]] = {}
    for stmt in policy.statements:
        for action in stmt.actions:
            granted.setdefault(action.lower(), []).append(stmt.where)
    ec2_granted = {a: w for a, w in granted.items() if a.startswith("ec2:")}
    canonical = {a.lower(): a for stmt in policy.statements for a in stmt.actions}

    for op in sorted(called):
        action = f"ec2:{op}"
        where = ec2_granted.get(action.lower())
        report.check(
            where is not None,
            f"code calls {action} ({', '.join(sorted(code.operations[op]))}) -> "
            + (f"allowed by {', '.join(sorted(set(where)))}" if where else "NOT allowed by the function's policy: add it"),
        )
    called_lower = {f"ec2:{op}".lower() for op in called}
    for action in sorted(ec2_granted):
        report.check(
            action in called_lower,
            f"policy allows {canonical[action]} -> "
            + ("called by the code" if action in called_lower else f"never called by the code: remove it from {', '.join(sorted(set(ec2_granted[action])))}"),
        )

    wild = sorted({canonical[a] for a in granted if "*" in a or "?" in a})
    not_actions = sorted({canonical[a] for a in granted if a.startswith("notaction:")})
    report.check(not wild and not not_actions, "no wildcard actions or NotAction" + (f": found {', '.join(wild + not_actions)}" if wild or not_actions else ""))

    known = iam_ec2_actions()
    if known is not None:
        unknown = sorted(canonical[a] for a in ec2_granted if "*" not in a and a.split(":", 1)[1] not in known)
        report.check(not unknown, "every ec2 action is a real IAM action (cfn-lint action list)" + (f": unknown {', '.join(unknown)}" if unknown else ""))

    writes = [
        s for s in policy.statements
        if any(a.lower().startswith("ec2:") and not a.split(":", 1)[1].startswith(READ_ONLY_PREFIXES) for a in s.actions)
    ]
    broad = [s.where for s in writes if any(resource_is_star(r) for r in s.resources)]
    report.check(not broad, "EC2 write actions are never granted on Resource '*'" + (f": {', '.join(broad)}" if broad else f" ({len(writes)} write statements)"))
    # The code turns a failed replace into a create and vice versa, so wherever
    # one of the two is granted the other must be too.
    route_actions = {"ec2:createroute", "ec2:replaceroute"}
    route_sets = {s.where: sorted(route_actions & {a.lower() for a in s.actions}) for s in writes}
    lopsided = {w: v for w, v in route_sets.items() if v and set(v) != route_actions}
    report.check(not lopsided, "statements granting CreateRoute or ReplaceRoute grant both (the code falls back from one to the other)" + (f": {json.dumps(lopsided)}" if lopsided else ""))

    # The tag-scoped statement must use the key the code reads: <TagPrefix>group.
    expected = f"ec2:ResourceTag/{policy.tag_prefix_default}group" if policy.tag_prefix_default else None
    tag_default = rust_tag_prefix_default(src)
    scoped = [s for s in writes if s.condition]
    keys = sorted({k for s in scoped for op in (s.condition or {}).values() if isinstance(op, dict) for k in op})
    ok = expected is not None and expected in keys and tag_default == policy.tag_prefix_default
    report.check(
        ok,
        f"tag-scoped writes use condition key {expected} and TagPrefix default {policy.tag_prefix_default!r} matches src/tags.rs ({tag_default!r})"
        + ("" if ok else f"; condition keys found: {keys or 'none'}"),
    )
    return report


def rust_tag_prefix_default(src: Path) -> str | None:
    path = src / "tags.rs"
    if not path.is_file():
        return None
    m = re.search(r"impl\s+Default\s+for\s+TagContract\s*\{.*?Self::new\(\s*\"([^\"]+)\"", path.read_text(), re.S)
    return m.group(1) if m else None


# ---------------------------------------------------------------------------
# Self-test: mutate copies and make sure the checks fail
# ---------------------------------------------------------------------------


def remove_action(text: str, action: str) -> str:
    a = re.escape(action)
    text = re.sub(rf"(?m)^[ \t]*-[ \t]*['\"]?{a}['\"]?[ \t]*\n", "", text)  # YAML block list item
    text = re.sub(rf"['\"]{a}['\"][ \t]*,[ \t]*", "", text)  # "x", in JSON/flow lists
    text = re.sub(rf",[ \t]*['\"]{a}['\"]", "", text)  # , "x"
    text = re.sub(rf"['\"]{a}['\"]", "", text)  # only element
    text = re.sub(rf"(\[[^\]\n]*?)\b{a}[ \t]*,[ \t]*", r"\1", text)  # [x, y] flow list
    text = re.sub(rf",[ \t]*{a}\b(?=[^\n]*\])", "", text)
    return text


def add_action(text: str, action: str) -> str:
    m = re.search(r"(?m)^([ \t]*)-[ \t]*ec2:[A-Za-z]+[ \t]*\n", text)
    if not m:
        return text
    return text[: m.end()] + f"{m.group(1)}- {action}\n" + text[m.end():]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def self_test(template_path: Path, src: Path, function_id: str | None) -> Report:
    report = Report()
    base = run_checks(template_path, src, function_id)
    report.check(not base.failed, "self-test: the unmodified template and code pass" + (f" (failures: {'; '.join(base.failed)})" if base.failed else f" ({base.passed} checks)"))
    text = template_path.read_text()
    template, _ = load_template(template_path)
    try:
        policy = scan_policy(template, function_id) if template else None
    except LookupError:
        policy = None
    actions = sorted({a for s in policy.statements for a in s.actions if a.lower().startswith("ec2:")}) if policy else []
    report.check(bool(actions), f"self-test: found {len(actions)} ec2 actions to remove one by one")

    with tempfile.TemporaryDirectory(prefix="check-policy-") as tmp:
        tmpdir = Path(tmp)

        def source_copy(extra: dict[str, str], register: bool) -> Path:
            """A copy of the crate's src (and Cargo.toml) with extra files; with
            `register`, each extra file becomes a module of the library."""
            crate = tmpdir / "crate"
            if crate.exists():
                shutil.rmtree(crate)
            shutil.copytree(src, crate / "src")
            if (src.parent / "Cargo.toml").is_file():
                shutil.copy(src.parent / "Cargo.toml", crate / "Cargo.toml")
            lib = crate / "src" / "lib.rs"
            for name, body in extra.items():
                target = crate / "src" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(body)
                if register and lib.is_file():
                    lib.write_text(lib.read_text() + f"\npub mod {Path(name).stem};\n")
            return crate / "src"

        def run_on(mutated_template: str | None, s: Path) -> Report:
            t = tmpdir / "template.yaml"
            t.write_text(mutated_template if mutated_template is not None else text)
            with quiet():
                return run_checks(t, s, function_id)

        def expect_failure(label: str, mutated_template: str | None, s: Path, needle: str, changed: bool = True) -> None:
            if not changed:
                report.check(False, f"self-test: {label}: the mutation did not apply (template layout changed?)")
                return
            result = run_on(mutated_template, s)
            hit = [m for m in result.failed if needle.lower() in m.lower()]
            report.check(bool(hit), f"self-test: {label}: caught" + (f" ({hit[0]})" if hit else f" -- NOT caught (failures: {result.failed or 'none'})"))

        def expect_pass(label: str, s: Path) -> None:
            result = run_on(None, s)
            report.check(not result.failed, f"self-test: {label}: still passes" + (f" -- failures: {result.failed}" if result.failed else ""))

        for action in actions:
            mutated = remove_action(text, action)
            expect_failure(f"{action} removed from the policy", mutated, src, f"code calls {action}", mutated != text)
        extra = "ec2:DeleteRoute"
        mutated = add_action(text, extra)
        expect_failure(f"{extra} added to the policy but never called", mutated, src, f"policy allows {extra} -> never called", mutated != text)
        mutated = add_action(text, "ec2:Describe*")
        expect_failure("a wildcard action ec2:Describe* added", mutated, src, "wildcard", mutated != text)
        made_up = "ec2:ReplaceRoutes"
        mutated = add_action(text, made_up)
        expect_failure(f"a made-up action {made_up} added", mutated, src, "not a real" if iam_ec2_actions() is None else "unknown", mutated != text)
        new_call = (
            "// added by check_policy.py --self-test\n"
            "pub async fn drop_route(client: &aws_sdk_ec2::Client) {\n"
            "    let _ = client\n        .delete_route()\n        .send()\n        .await;\n}\n"
        )
        expect_failure("the Lambda code starts calling ec2:DeleteRoute", None, source_copy({"zz_self_test.rs": new_call}, True), "code calls ec2:DeleteRoute")
        test_only = (
            "#[cfg(test)]\nmod tests {\n    async fn setup(client: &aws_sdk_ec2::Client) {\n"
            "        let _ = client.delete_route().send().await; // \"}\" in a literal\n    }\n}\n"
        )
        expect_pass("a client call inside #[cfg(test)] code is not counted", source_copy({"zz_self_test.rs": test_only}, True))
        expect_pass("a client call in a file the Lambda binary does not build is not counted", source_copy({"bin/zz_other_tool.rs": new_call}, False))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--function", help="logical id of the function (default: the only one)")
    parser.add_argument("--self-test", action="store_true", help="prove the checks fail on a mutated copy")
    args = parser.parse_args(argv)
    report = self_test(args.template, args.src, args.function) if args.self_test else run_checks(args.template, args.src, args.function)
    report.print()
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
