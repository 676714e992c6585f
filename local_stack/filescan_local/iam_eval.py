"""A small IAM policy evaluator for the subset of the policy language ``template.yaml`` uses.

Why not a library: no maintained Python package evaluates IAM policies with conditions
(``policy_sentry`` and ``parliament`` write and lint policies; moto's ``access_control`` checks
actions and resources of identity policies but ignores conditions, so it cannot run the read gate
``s3:ExistingObjectTag/...``, ``aws:PrincipalArn`` exemptions or ``s3:prefix`` scoping).

Supported: ``Effect`` Allow/Deny; ``Action``/``NotAction`` and ``Resource``/``NotResource`` with
``*``/``?`` wildcards; ``Principal`` ``"*"`` or ``{"AWS": arns}`` in resource policies; the condition
operators String(Not)Equals, String(Not)Like, Arn(Not)Equals, Arn(Not)Like, Bool and Null, with the
``ForAnyValue:``/``ForAllValues:`` qualifiers and the ``IfExists`` suffix. Anything else raises
``UnsupportedPolicy`` (a policy the evaluator cannot read must not silently allow or deny).

Decision (one account, so an Allow in either the identity or the resource policy suffices):
an explicit Deny anywhere wins, then any Allow, else the implicit deny.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Context = Mapping[str, Sequence[str]]
"""Condition keys of one request (lower-case names) and their values."""


class UnsupportedPolicy(ValueError):
    """The policy uses an element or operator this evaluator does not implement."""


@dataclasses.dataclass(frozen=True)
class Statement:
    """One policy statement."""

    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    """(operator, condition key, values)."""
    principals: tuple[str, ...] | None = None
    """Resource policies: the AWS principals (``*`` = anyone); ``None`` in identity policies."""
    sid: str = ""


@dataclasses.dataclass(frozen=True)
class Request:
    """What a caller asks for: one action on one resource, with its condition context."""

    principal_arn: str
    action: str
    resource: str
    context: Context = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Decision:
    """The outcome of evaluating a request."""

    allowed: bool
    reason: str
    """``allow <sid>``, ``explicit deny <sid>`` or ``implicit deny``."""


def parse_policy(document: Mapping[str, Any], *, resource_policy: bool = False) -> tuple[Statement, ...]:
    """The statements of a (resolved) policy document."""
    raw = document.get("Statement", [])
    return tuple(_statement(item, resource_policy) for item in (raw if isinstance(raw, list) else [raw]))


def _statement(item: Mapping[str, Any], resource_policy: bool) -> Statement:
    known = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal"}
    if unknown := set(item) - known:
        raise UnsupportedPolicy(f"statement elements {sorted(unknown)}")
    principals: tuple[str, ...] | None = None
    if resource_policy:
        principal = item.get("Principal")
        if principal == "*":
            principals = ("*",)
        elif isinstance(principal, Mapping):
            principals = _strings(principal.get("AWS", ()))
        else:
            raise UnsupportedPolicy(f"principal {principal!r}")
    conditions = []
    for operator, keys in dict(item.get("Condition", {})).items():
        _check_operator(operator)
        for key, values in dict(keys).items():
            conditions.append((operator, key.lower(), _strings(values)))
    return Statement(
        effect=str(item["Effect"]),
        actions=_strings(item.get("Action", ())),
        not_actions=_strings(item.get("NotAction", ())),
        resources=_strings(item.get("Resource", ())),
        not_resources=_strings(item.get("NotResource", ())),
        conditions=tuple(conditions),
        principals=principals,
        sid=str(item.get("Sid", "")),
    )


def evaluate(
    request: Request, identity: Iterable[Statement], resource_policy: Iterable[Statement] = ()
) -> Decision:
    """Evaluate ``request`` against the caller's identity policies and the resource's policy."""
    allow: Statement | None = None
    for statement in (*identity, *resource_policy):
        if not applies(statement, request):
            continue
        if statement.effect == "Deny":
            return Decision(False, f"explicit deny {statement.sid}".strip())
        allow = allow or statement
    if allow is not None:
        return Decision(True, f"allow {allow.sid}".strip())
    return Decision(False, "implicit deny")


def applies(statement: Statement, request: Request) -> bool:
    """Whether a statement matches the request's principal, action, resource and conditions."""
    if statement.principals is not None and not any(
        principal == "*" or _like(principal, request.principal_arn) for principal in statement.principals
    ):
        return False
    action = request.action.lower()
    if statement.actions and not any(_like(pattern.lower(), action) for pattern in statement.actions):
        return False
    if statement.not_actions and any(_like(p.lower(), action) for p in statement.not_actions):
        return False
    if statement.resources and not any(_like(p, request.resource) for p in statement.resources):
        return False
    if statement.not_resources and any(_like(p, request.resource) for p in statement.not_resources):
        return False
    return all(_condition(op, key, values, request.context) for op, key, values in statement.conditions)


def _like(pattern: str, value: str) -> bool:
    """IAM wildcard match: ``*`` any run of characters, ``?`` one character, case-sensitive."""
    return _compiled(pattern).fullmatch(value) is not None


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), re.DOTALL)


def _equals(pattern: str, value: str) -> bool:
    return pattern == value


def _bool(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


_OPERATORS: dict[str, tuple[bool, Callable[[str, str], bool]]] = {
    "StringEquals": (False, _equals),
    "StringNotEquals": (True, _equals),
    "StringLike": (False, _like),
    "StringNotLike": (True, _like),
    "ArnEquals": (False, _like),
    "ArnLike": (False, _like),
    "ArnNotEquals": (True, _like),
    "ArnNotLike": (True, _like),
    "Bool": (False, _bool),
    "Null": (False, _equals),
}


def _split(operator: str) -> tuple[str, str, bool]:
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    return qualifier, name.removesuffix("IfExists"), if_exists


def _check_operator(operator: str) -> None:
    qualifier, name, _ = _split(operator)
    if name not in _OPERATORS or qualifier not in {"", "ForAnyValue", "ForAllValues"}:
        raise UnsupportedPolicy(f"condition operator {operator}")


def _condition(operator: str, key: str, patterns: tuple[str, ...], context: Context) -> bool:
    """One condition. A missing key fails positive operators and passes negated ones (AWS's rule)."""
    qualifier, name, if_exists = _split(operator)
    negated, match = _OPERATORS[name]
    values = context.get(key)
    if name == "Null":
        # "true": the key is absent from the request; "false": it is present.
        return ("true" if values is None else "false") in {p.lower() for p in patterns}
    if values is None:
        if if_exists or qualifier == "ForAllValues":
            return True
        return negated and qualifier != "ForAnyValue"

    def hit(value: str) -> bool:
        return any(match(pattern, value) for pattern in patterns)

    if qualifier == "ForAllValues":
        return all(hit(value) != negated for value in values)
    if qualifier == "ForAnyValue":
        return any(hit(value) != negated for value in values)
    matched = any(hit(value) for value in values)
    return not matched if negated else matched


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list | tuple) else (str(value),)
