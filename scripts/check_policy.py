#!/usr/bin/env python3
"""Checks the function's IAM policy in template.yaml for what cfn-lint does not.

Whether the policy grants exactly the AWS operations the code makes is checked in
Rust, not here: src/aws/ops.rs lists every operation (`Op::ALL`) and its unit test
`the_template_grants_exactly_the_operations_the_code_makes` compares that list with
the template's ec2:/cloudwatch: actions. This script checks the template itself:

* it loads with cfnlint.decode, which understands !Sub, !If and Fn::ForEach;
* every policy reaching the function's role is found and readable (its inline
  Policies, AWS::IAM::RolePolicy resources on its role, also in Fn::ForEach, and
  JSON-string `!Sub |` documents read with parameter defaults): a policy this
  script cannot read would escape every check below;
* no wildcard actions and no NotAction: they grant operations nobody reviewed;
* every action is a real IAM action (cfn-lint's list): IAM accepts a misspelt
  action such as ec2:ReplaceRoutes silently, and the call it was meant for fails;
* write actions (anything but Describe*/Get*/List*) are never granted on
  Resource "*" (or NotResource): the function may rewrite only its groups' tables;
* a statement granting CreateRoute or ReplaceRoute grants both: the code falls
  back from one to the other when a route is missing or already there;
* writes on route-table/* and transit-gateway-route-table/* carry the
  condition key `ec2:ResourceTag/<TagPrefix default>group`, the group tag the
  code reads (VPC route tables and, with TRANSIT_ROUTES, Transit Gateway ones).

Run `.venv/bin/python scripts/check_policy.py` (the .venv has cfn-lint); with
`--self-test` it mutates copies of the template and shows each check failing on
the mutation it guards against. Both print one line per check, then
`N passed, M failed`, and exit with status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import namedtuple
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
PSEUDO_PARAMETERS = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
                     "AWS::StackName": "vip-failover", "AWS::URLSuffix": "amazonaws.com"}
FAILOVER_FUNCTION = "VipFailoverFunction"  # the function whose role is checked
READ_PREFIXES = ("Describe", "Get", "List", "Search")  # EC2's non-mutating actions
ROUTE_WRITES = {"ec2:CreateRoute", "ec2:ReplaceRoute"}
NOT_PLAIN = re.compile(r"[*?]|^NotAction:")  # a wildcard or NotAction entry

LOADS = "template loads with cfnlint.decode"
READABLE = "every policy reaching the function's role is found and readable"
NO_WILDCARDS = "no wildcard actions and no NotAction"
REAL_ACTIONS = "every action is a real IAM action (cfn-lint's list)"
NO_STAR_WRITES = "write actions are never granted on Resource '*'"
ROUTE_PAIRS = "statements granting CreateRoute or ReplaceRoute grant both (the code falls back from one to the other)"
TAG_SCOPED = "writes on route tables (VPC and Transit Gateway) are scoped by ec2:ResourceTag/<TagPrefix>group"
# The resource ARN endings of the tables the function writes routes in.
ROUTE_TABLES = (":route-table/*", ":transit-gateway-route-table/*")

# An Allow statement; NotAction entries are kept in `actions` prefixed "NotAction:",
# and a statement without Resource (a NotResource one) counts as Resource "*".
Statement = namedtuple("Statement", "where actions resources condition")
# Every Allow statement reaching the function's role, and what could not be read.
Policy = namedtuple("Policy", "function statements problems tag_prefix")


# --- reading the template -------------------------------------------------------
def load_template(path: Path) -> tuple[dict | None, list[str]]:
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    errors = [str(m) for m in matches or []]
    return template, errors or ([] if template is not None else [f"could not load {path}"])


def as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def iter_resources(resources: dict, loop_vars: dict[str, str]) -> Iterator[tuple[str, dict, dict[str, str]]]:
    """(logical id, resource, Fn::ForEach identifiers given a sample value)."""
    for key, value in resources.items():
        if key.startswith("Fn::ForEach::") and isinstance(value, list) and len(value) == 3:
            yield from iter_resources(value[2] or {}, {**loop_vars, str(value[0]): "rtb-0123456789abcdef0"})
        elif isinstance(value, dict):
            yield key, value, loop_vars


def if_branches(value: Any) -> list[Any]:
    """Both branches of a Fn::If, without AWS::NoValue; the value itself otherwise."""
    if isinstance(value, dict) and list(value) == ["Fn::If"] and len(value["Fn::If"]) == 3:
        return [leaf for b in value["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"} for leaf in if_branches(b)]
    return [value]


def substitute(text: str, variables: dict[str, str]) -> str:
    """Fn::Sub with the given values; ${!Literal} becomes ${Literal}."""
    def value(m: re.Match) -> str:
        return "${" + m[1][1:] + "}" if m[1].startswith("!") else variables.get(m[1], "SUB_" + m[1])

    return re.sub(r"\$\{([^}]*)\}", value, text)


def sub_value(value: Any, variables: dict[str, str]) -> str:
    """A Fn::Sub variable: a string, or the string (or Fn::Sub string) branch of a
    Fn::If (the template's optional parameters default to empty, so their
    conditions take the branch that needs no value)."""
    def text(branch: Any) -> str | None:
        if isinstance(branch, dict) and isinstance(branch.get("Fn::Sub"), str):
            return substitute(branch["Fn::Sub"], variables)
        return branch if isinstance(branch, str) else None
    strings = [t for t in map(text, if_branches(value)) if t is not None]
    return strings[-1] if strings else str(value)


def resolve_document(doc: Any, variables: dict[str, str]) -> Any:
    """A policy document as a dict: inline, a JSON string, or a Fn::Sub of one."""
    if isinstance(doc, dict) and list(doc) == ["Fn::Sub"]:
        text, extra = doc["Fn::Sub"] if isinstance(doc["Fn::Sub"], list) else (doc["Fn::Sub"], {})
        return json.loads(substitute(text, {**variables, **{k: sub_value(v, variables) for k, v in extra.items()}}))
    return json.loads(doc) if isinstance(doc, str) else doc


def statements_of(doc: dict, where: str) -> list[Statement]:
    out = []
    for n, stmt in enumerate(s for item in as_list(doc.get("Statement")) for s in if_branches(item)):
        if isinstance(stmt, dict) and stmt.get("Effect") == "Allow":
            actions = [("NotAction:" if key == "NotAction" else "") + (a if isinstance(a, str) else json.dumps(a))
                       for key in ("Action", "NotAction") for item in as_list(stmt.get(key)) for a in if_branches(item)]
            where_sid = f"{where} {stmt.get('Sid', n)}"
            out.append(Statement(where_sid, actions, as_list(stmt.get("Resource", "*")), stmt.get("Condition")))
    return out


def parameter_defaults(template: dict) -> dict[str, str]:
    defaults = dict(PSEUDO_PARAMETERS)
    for name, spec in (template.get("Parameters") or {}).items():
        if isinstance(spec, dict) and "Default" in spec:
            defaults[name] = ",".join(map(str, as_list(spec["Default"])))
    return defaults


def policy_documents(fid: str, props: dict, resources: list) -> Iterator[tuple[str, Any, dict[str, str]]]:
    """(where, document, ForEach identifiers) of every policy reaching the function's role;
    the document is None where it cannot be checked (a managed policy, a policy template)."""
    for n, item in enumerate(p for pol in as_list(props.get("Policies")) for p in if_branches(pol)):
        readable = isinstance(item, dict) and "Statement" in item
        yield f"{fid}.Policies[{n}]" + ("" if readable else f" {json.dumps(item)[:60]}"), item if readable else None, {}
    if "Role" in props:  # SAM's generated role only: an explicit role's own policies are not read
        yield f"{fid}.Role {json.dumps(props['Role'])[:60]}", None, {}
    policy_types = ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
    for lid, res, loop_vars in resources:
        props = res.get("Properties") or {}
        roles = [props.get("RoleName"), *as_list(props.get("Roles"))]
        if res.get("Type") in policy_types and {"Ref": f"{fid}Role"} in roles:
            yield lid, props.get("PolicyDocument"), loop_vars


def read_policy(template: dict) -> Policy:
    resources = list(iter_resources(template.get("Resources") or {}, {}))
    functions = [(lid, res) for lid, res, _ in resources if res.get("Type") == "AWS::Serverless::Function"]
    # The failover function; the probe function beside it has a managed policy only
    # (AWSLambdaVPCAccessExecutionRole), which this script does not read.
    failover = [(lid, res) for lid, res in functions if lid == FAILOVER_FUNCTION] or functions
    if len(failover) != 1:
        raise LookupError(f"expected {FAILOVER_FUNCTION} among {[lid for lid, _ in functions]}")
    (fid, fn), variables = failover[0], parameter_defaults(template)
    policy = Policy(fid, [], [], variables.get("TagPrefix"))
    for where, doc, loop_vars in policy_documents(fid, fn.get("Properties") or {}, resources):
        try:
            parsed = None if doc is None else resolve_document(doc, {**variables, **loop_vars})
        except (ValueError, TypeError, AttributeError) as e:
            policy.problems.append(f"{where}: policy document is not readable JSON ({e})")
            continue
        if isinstance(parsed, dict):
            policy.statements.extend(statements_of(parsed, where))
        else:
            policy.problems.append(f"{where}: cannot be checked; grant inline statements instead")
    return policy


# --- the checks: each returns (problems, note) ----------------------------------
def check_readable(policy: Policy) -> tuple[list[str], str]:
    missing = [] if policy.statements else ["no Allow statement found"]
    return policy.problems + missing, f"{len(policy.statements)} Allow statements on {policy.function}'s role"


def check_no_wildcards(policy: Policy) -> tuple[list[str], str]:
    return sorted({a for s in policy.statements for a in s.actions if NOT_PLAIN.search(a)}), ""


def check_real_actions(policy: Policy) -> tuple[list[str], str]:
    import cfnlint.data.AdditionalSpecs as specs

    data = json.loads((Path(specs.__file__).parent / "Policies.json").read_text())
    known = {service: {a.lower() for a in spec.get("Actions", {})} for service, spec in data.items()}
    actions = {tuple(a.split(":", 1)) for s in policy.statements for a in s.actions if not NOT_PLAIN.search(a)}
    unknown = sorted(":".join(a) for a in actions if len(a) != 2 or a[1].lower() not in known.get(a[0].lower(), ()))
    services = ", ".join(sorted({a[0] for a in actions}))
    return [f"unknown {a}" for a in unknown], f"{len(actions)} actions of {services}"


def writes(stmt: Statement) -> list[str]:
    return [a for a in stmt.actions if not a.split(":", 1)[-1].startswith(READ_PREFIXES)]


def check_no_star_writes(policy: Policy) -> tuple[list[str], str]:
    star = re.compile(r"\*|arn:[^:]*:[^:]*:[^:]*:[^:]*:\*")
    writing = [s for s in policy.statements if writes(s)]
    broad = [f"{s.where} ({', '.join(writes(s))})" for s in writing if any(star.fullmatch(str(r)) for r in s.resources)]
    return broad, f"{len(writing)} write statements"


def check_route_pairs(policy: Policy) -> tuple[list[str], str]:
    return [f"{s.where} grants only {' '.join(ROUTE_WRITES & set(s.actions))}"
            for s in policy.statements if len(ROUTE_WRITES & set(s.actions)) == 1], ""


def check_tag_scoped(policy: Policy) -> tuple[list[str], str]:
    if policy.tag_prefix is None:
        return ["the TagPrefix parameter has no default"], ""
    key = f"ec2:ResourceTag/{policy.tag_prefix}group"
    on = {end: [s for s in policy.statements if writes(s) and any(str(r).endswith(end) for r in s.resources)]
          for end in ROUTE_TABLES}
    scoped = [s for statements in on.values() for s in statements]
    problems = [f"{s.where} lacks {key}" for s in scoped
                if not any(key in op for op in (s.condition or {}).values() if isinstance(op, dict))]
    problems += [f"no statement grants writes on {end.lstrip(':')}" for end, found in on.items() if not found]
    return problems, f"{key} on {len(scoped)} statements"


CHECKS: list[tuple[str, Callable[[Policy], tuple[list[str], str]]]] = [
    (READABLE, check_readable), (NO_WILDCARDS, check_no_wildcards), (REAL_ACTIONS, check_real_actions),
    (NO_STAR_WRITES, check_no_star_writes), (ROUTE_PAIRS, check_route_pairs), (TAG_SCOPED, check_tag_scoped),
]


def run_checks(template_path: Path) -> list[tuple[bool, str]]:
    template, errors = load_template(template_path)
    results = [(not errors, f"{LOADS} ({template_path.name})" + "".join(f"; {e}" for e in errors))]
    if errors:
        return results
    try:
        policy = read_policy(template)
    except LookupError as e:
        return results + [(False, f"{READABLE}: {e}")]
    for title, check in CHECKS:
        problems, note = check(policy)
        results.append((not problems, title + (f": {'; '.join(problems)}" if problems else f" ({note})" if note else "")))
    return results


# --- self-test: mutate a copy of the template and make sure the check fails -----
def add_action(text: str, action: str) -> str:
    """Adds an action after the first YAML list item `- ec2:...` (ReadGroupState, on Resource "*")."""
    return re.sub(r"(?m)^([ \t]*)- ec2:\w+\n", lambda m: f"{m[0]}{m[1]}- {action}\n", text, count=1)


def first(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new, 1)


MUTATIONS: list[tuple[str, Callable[[str], str], str]] = [
    ("a duplicate Resources key", lambda t: t + "\nResources: {}\n", LOADS),
    ("a JSON-string policy loses a comma", first('"Version": "2012-10-17",', '"Version": "2012-10-17"'), READABLE),
    ("a managed policy in Policies", first("      Policies:\n", "      Policies:\n        - AmazonEC2FullAccess\n"), READABLE),
    ("ec2:* added", lambda t: add_action(t, "ec2:*"), NO_WILDCARDS),
    ("Action turned into NotAction", lambda t: re.sub(r"(?m)^(\s*)Action:\n", r"\1NotAction:\n", t, count=1), NO_WILDCARDS),
    ("a made-up ec2:ReplaceRoutes added", lambda t: add_action(t, "ec2:ReplaceRoutes"), REAL_ACTIONS),
    ("a made-up cloudwatch:DescribeAlarm added", lambda t: add_action(t, "cloudwatch:DescribeAlarm"), REAL_ACTIONS),
    ("ec2:ReplaceRoute granted on '*'", lambda t: add_action(t, "ec2:ReplaceRoute"), NO_STAR_WRITES),
    ("cloudwatch:SetAlarmState granted on '*'", lambda t: add_action(t, "cloudwatch:SetAlarmState"), NO_STAR_WRITES),
    ("route writes granted on NotResource", first('"Resource": "arn:', '"NotResource": "arn:'), NO_STAR_WRITES),
    ("ReplaceRoute dropped from a statement keeping CreateRoute",
     first('"ec2:CreateRoute", "ec2:ReplaceRoute"', '"ec2:CreateRoute"'), ROUTE_PAIRS),
    ("the condition key renamed", first("ec2:ResourceTag/${TagPrefix}group", "ec2:ResourceTag/${TagPrefix}grp"), TAG_SCOPED),
    ("the Transit Gateway tables' condition dropped",
     first('transit-gateway-route-table/*",\n                "Condition": {"StringLike": {"ec2:ResourceTag/${TagPrefix}group": "*"}}',
           'transit-gateway-route-table/*"'), TAG_SCOPED),
]


def self_test(template_path: Path) -> list[tuple[bool, str]]:
    failed = [m for ok, m in run_checks(template_path) if not ok]
    results = [(not failed, "self-test: the unmodified template passes" + "".join(f"; FAIL: {m}" for m in failed))]
    text = template_path.read_text()
    with tempfile.TemporaryDirectory(prefix="check-policy-") as tmp:
        copy = Path(tmp) / template_path.name
        for label, mutate, title in MUTATIONS:
            copy.write_text(mutated := mutate(text))
            caught = [m for ok, m in run_checks(copy) if not ok and m.startswith(title)]
            results.append((bool(caught), f"self-test: {label}: " + (
                "the mutation did not apply (template layout changed?)" if mutated == text
                else f"caught ({caught[0]})" if caught else f"NOT caught by '{title}'")))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--self-test", action="store_true", help="prove each check fails on a mutated copy")
    args = parser.parse_args()
    results = (self_test if args.self_test else run_checks)(args.template)
    for ok, message in results:
        print(f"{'PASS' if ok else 'FAIL'}: {message}")
    failed = sum(1 for ok, _ in results if not ok)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
