"""Label and field selectors: parsing Kubernetes' text syntax and matching objects (pure functions).

Label selectors accept the full syntax of ``kubectl -l``: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``,
``a notin (x)``, ``a`` (exists), ``!a`` (does not exist), ``a>1``, ``a<1``. Field selectors accept ``=``, ``==``
and ``!=`` on the fields a resource declares selectable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")


class SelectorError(ValueError):
    """A selector string that does not parse; the message says what is wrong."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                    # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if not present:
            return False
        try:
            number = int(value)
        except (TypeError, ValueError):
            return False
        bound = int(self.values[0])
        return number > bound if self.op == "gt" else number < bound


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def check_label_key(key: str) -> str:
    if not key or len(key) > 317 or not _KEY_RE.match(key):
        raise SelectorError(f"invalid label key {key!r}: name part must consist of alphanumeric characters, "
                            "'-', '_' or '.', and must start and end with an alphanumeric character")
    return key


def check_label_value(value: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise SelectorError(f"invalid label value {value!r}: must be 63 characters or less and consist of "
                            "alphanumeric characters, '-', '_' or '.'")
    return value


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced parenthesis in {text!r}")
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise SelectorError(f"unbalanced parenthesis in {text!r}")
    terms.append("".join(current))
    return terms


_SET_RE = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse ``kubectl -l`` syntax; raises SelectorError on bad input."""
    if text is None or not text.strip():
        return LabelSelector()
    requirements = []
    for raw in _split_terms(text):
        term = raw.strip()
        if not term:
            raise SelectorError(f"empty term in label selector {text!r}")
        m = _SET_RE.match(term)
        if m:
            key, op, values = m.group(1), m.group(2), m.group(3)
            vals = tuple(check_label_value(v.strip()) for v in values.split(",")) if values.strip() else ()
            if not vals:
                raise SelectorError(f"for '{op}' operator, values set can't be empty in {term!r}")
            requirements.append(Requirement(check_label_key(key), op, vals))
            continue
        if term.startswith("!"):
            requirements.append(Requirement(check_label_key(term[1:].strip()), "!"))
            continue
        for token, op in (("!=", "!="), ("==", "="), ("=", "="), (">", "gt"), ("<", "lt")):
            if token in term:
                key, _, value = term.partition(token)
                key, value = key.strip(), value.strip()
                if op in ("gt", "lt"):
                    try:
                        int(value)
                    except ValueError:
                        raise SelectorError(f"for '{token}' operator, the value must be an integer: {term!r}")
                    requirements.append(Requirement(check_label_key(key), op, (value,)))
                else:
                    requirements.append(Requirement(check_label_key(key), op, (check_label_value(value),)))
                break
        else:
            if " " in term or "(" in term or ")" in term:
                raise SelectorError(f"unable to parse requirement {term!r}")
            requirements.append(Requirement(check_label_key(term), "exists"))
    return LabelSelector(tuple(requirements))


def selector_from_object(selector: dict[str, Any] | None) -> LabelSelector | None:
    """A ``metav1.LabelSelector`` object (matchLabels + matchExpressions) as a LabelSelector.

    ``None`` selects nothing (as Kubernetes treats a nil selector); ``{}`` selects everything.
    """
    if selector is None:
        return None
    requirements = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        op = ops.get(expr.get("operator"))
        if op is None:
            raise SelectorError(f"{expr.get('operator')!r} is not a valid label selector operator")
        requirements.append(Requirement(expr.get("key", ""), op, tuple(expr.get("values") or ())))
    return LabelSelector(tuple(requirements))


# ---- field selectors -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldRequirement:
    field: str
    op: str        # "=" or "!="
    value: str


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        for req in self.requirements:
            actual = field_value(obj, req.field)
            if (actual == req.value) != (req.op == "="):
                return False
        return True

    @property
    def empty(self) -> bool:
        return not self.requirements


def field_value(obj: dict[str, Any], path: str) -> str:
    """The text value of a dotted field path as field selectors compare it ('' when absent)."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None, allowed: Iterable[str] | Callable[[str], bool]) -> FieldSelector:
    """Parse a field selector; fields outside ``allowed`` raise SelectorError like the API server's 400."""
    if text is None or not text.strip():
        return FieldSelector()
    is_allowed = allowed if callable(allowed) else set(allowed).__contains__
    requirements = []
    for raw in text.split(","):
        term = raw.strip()
        for token, op in (("!=", "!="), ("==", "="), ("=", "=")):
            if token in term:
                field, _, value = term.partition(token)
                field = field.strip()
                break
        else:
            raise SelectorError(f"invalid selector: {term!r}; can't understand {term!r}")
        if not is_allowed(field):
            raise SelectorError(f'field label not supported: {field}')
        requirements.append(FieldRequirement(field, op, value.strip()))
    return FieldSelector(tuple(requirements))
