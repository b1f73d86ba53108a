"""Semantic rules of the Sedna kinds (beyond the schema): references, triggers, time windows, HEM names, URLs.

:func:`check_object` is pure (a manifest dict in, ``ValidationIssue`` list out) and tolerates objects that
do not match the schema (it skips what it cannot read), so the GM can use it to set conditions on invalid
CRs. Values with an unexpanded shell variable (``$IMAGE``, ``${NODE}``, as in upstream's example manifests
meant for ``envsubst``) produce a warning instead of the value checks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from sedna.api.schemacheck import ValidationIssue, join_path

log = logging.getLogger(__name__)

#: trigger operators the LocalController understands (gm-lc-protocol.md §8)
OPERATORS = ("gt", ">", "ge", ">=", "eq", "=", "==", "ne", "!=", "le", "<=", "lt", "<")
#: HEM algorithms registered upstream (sdk.md §2.3); used together with whatever ClassFactory holds
SPEC_HEM_NAMES = ("Threshold", "CrossEntropy", "IBT", "Random", "CloudOnly", "EdgeOnly", "BertRouter")
TRAIN_METRIC = "num_of_samples"
DATASET_FORMATS = ("txt", "csv", "dir")

_TIME = re.compile(r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DEPLOY_METRIC = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*(\[[0-9]+\])?$")
_VARIABLE = re.compile(r"\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")

#: name references per kind (same namespace); ``[]`` walks every list element
REFERENCES: dict[str, tuple[str, ...]] = {
    "Dataset": ("spec.credentialName",),
    "Model": ("spec.credentialName",),
    "JointInferenceService": ("spec.edgeWorker.model.name", "spec.cloudWorker.model.name"),
    "FederatedLearningJob": ("spec.aggregationWorker.model.name", "spec.trainingWorkers[].dataset.name",
                             "spec.pretrainedModel.name", "spec.transmitter.s3.credentialName"),
    "IncrementalLearningJob": ("spec.dataset.name", "spec.initialModel.name", "spec.evalSpec.initialEvalModel.name",
                               "spec.deploySpec.model.name", "spec.credentialName"),
    "LifelongLearningJob": ("spec.dataset.name", "spec.credentialName"),
    "VideoAnalyticsJob": ("spec.model.name",),
    "FeatureExtractionService": ("spec.model.name",),
}
#: (trigger path, role) per kind
TRIGGERS: dict[str, tuple[tuple[str, str], ...]] = {
    "IncrementalLearningJob": (("spec.trainSpec.trigger", "train"), ("spec.deploySpec.trigger", "deploy")),
    "LifelongLearningJob": (("spec.trainSpec.trigger", "train"),),
}
HEM_PATHS: dict[str, str] = {
    "JointInferenceService": "spec.edgeWorker.hardExampleMining",
    "IncrementalLearningJob": "spec.deploySpec.hardExampleMining",
}
#: templates whose ``spec.nodeName`` routes the object to a LocalController (gm.md §4, §5.3)
ROUTING_TEMPLATES: dict[str, tuple[str, ...]] = {
    "JointInferenceService": ("spec.edgeWorker.template",),
    "FederatedLearningJob": ("spec.trainingWorkers[].template",),
}


def known_hem_names() -> set[str]:
    """HEM names ClassFactory knows (importing the HEM package registers them) plus the spec's list."""
    names = set(SPEC_HEM_NAMES)
    try:
        import sedna.algorithms.hard_example_mining  # noqa: F401  (registers the algorithms)
    except Exception:
        log.debug("HEM algorithms could not be imported; using the spec's list", exc_info=True)
    from sedna.common.class_factory import ClassFactory, ClassType

    names.update(ClassFactory.__registry__.get(ClassType.HEM, {}))
    return names


def _split(path: str) -> list[str]:
    return path.split(".")


def find(doc: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Yield ``(concrete path, value)`` for a dotted path; ``x[]`` expands over the list ``x``. Missing parts
    and wrong types yield nothing."""

    def walk(node: Any, parts: list[str], done: list[Any]) -> Iterator[tuple[str, Any]]:
        if not parts:
            yield join_path(done), node
            return
        head, rest = parts[0], parts[1:]
        many = head.endswith("[]")
        key = head[:-2] if many else head
        if not isinstance(node, dict) or key not in node or node[key] is None:
            return
        child = node[key]
        if not many:
            yield from walk(child, rest, done + [key])
        elif isinstance(child, list):
            for i, item in enumerate(child):
                yield from walk(item, rest, done + [key, i])

    yield from walk(doc, _split(path), [])


def _get(doc: Any, path: str) -> Any:
    for _, value in find(doc, path):
        return value
    return None


def _has_variable(value: Any) -> bool:
    return isinstance(value, str) and bool(_VARIABLE.search(value))


def _variable_warning(path: str, value: str) -> ValidationIssue:
    return ValidationIssue(path, f"contains an unexpanded variable ({value!r}); substitute it before applying",
                           "warning")


def _check_name(path: str, value: Any, what: str) -> list[ValidationIssue]:
    if not isinstance(value, str):
        return []
    if _has_variable(value):
        return [_variable_warning(path, value)]
    if not value:
        return [ValidationIssue(path, f"{what} must not be empty")]
    if len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        return [ValidationIssue(path, f"{value!r} is not a valid {what} (lower-case RFC 1123 subdomain)")]
    return []


def _check_metadata(doc: dict, kind: str) -> list[ValidationIssue]:
    from sedna.api.registry import get_kind

    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return [ValidationIssue("metadata.name", "required field is missing")]
    name = meta.get("name")
    if name is None:
        if not meta.get("generateName"):
            return [ValidationIssue("metadata.name", "required field is missing")]
        return []
    issues = _check_name("metadata.name", name, "object name")
    namespace = meta.get("namespace")
    if isinstance(namespace, str) and not _has_variable(namespace) and not _DNS1123_LABEL.match(namespace):
        issues.append(ValidationIssue("metadata.namespace", f"{namespace!r} is not a valid namespace name"))
    if issues or not isinstance(name, str):
        return issues
    for suffix in get_kind(kind).service_suffixes:
        service = f"{name}-{suffix}"
        if len(service) > 63 or not _DNS1035_LABEL.match(service):
            issues.append(ValidationIssue("metadata.name", f"the GM creates Service {service!r}, which is not a "
                                                           "valid DNS-1035 label (max 63 characters, starting "
                                                           "with a letter)"))
    return issues


def _check_trigger(trigger: Any, path: str, role: str) -> list[ValidationIssue]:
    if not isinstance(trigger, dict):
        return []
    issues = []
    condition = trigger.get("condition")
    if isinstance(condition, dict):
        operator = condition.get("operator")
        if isinstance(operator, str) and operator not in OPERATORS:
            issues.append(ValidationIssue(f"{path}.condition.operator",
                                          f"unknown operator {operator!r} (one of {' '.join(OPERATORS)})"))
        metric = condition.get("metric")
        if isinstance(metric, str):
            if role == "train" and metric != TRAIN_METRIC:
                issues.append(ValidationIssue(f"{path}.condition.metric",
                                              f"a train trigger can only use {TRAIN_METRIC!r}, got {metric!r}"))
            elif role == "deploy" and not _DEPLOY_METRIC.match(metric):
                issues.append(ValidationIssue(f"{path}.condition.metric",
                                              f"{metric!r} is not a metric name, optionally indexed as name[i]"))
    timer = trigger.get("timer")
    if isinstance(timer, dict):
        for key in ("start", "end"):
            value = timer.get(key)
            if isinstance(value, str) and not _TIME.match(value):
                issues.append(ValidationIssue(f"{path}.timer.{key}",
                                              f"{value!r} is not a time HH:MM (00:00-23:59, or 24:00)"))
    period = trigger.get("checkPeriodSeconds")
    if isinstance(period, int) and not isinstance(period, bool) and period <= 0:
        issues.append(ValidationIssue(f"{path}.checkPeriodSeconds", "must be positive"))
    return issues


def _check_hem(hem: Any, path: str) -> list[ValidationIssue]:
    if not isinstance(hem, dict):
        return []
    issues = []
    name = hem.get("name")
    if isinstance(name, str):
        known = known_hem_names()
        if name not in known:
            issues.append(ValidationIssue(f"{path}.name", f"unknown hard example mining algorithm {name!r} "
                                                          f"(known: {', '.join(sorted(known))})"))
    params = hem.get("parameters")
    if isinstance(params, list):
        seen: set[str] = set()
        for i, param in enumerate(params):
            key = param.get("key") if isinstance(param, dict) else None
            if isinstance(key, str) and key in seen:
                issues.append(ValidationIssue(f"{path}.parameters[{i}].key", f"duplicate parameter {key!r}",
                                              "warning"))
            seen.add(key)
    return issues


def _check_location(path: str, value: Any, schemes: tuple[str, ...], what: str) -> list[ValidationIssue]:
    """A host path (absolute) or a URL with one of ``schemes``."""
    if not isinstance(value, str):
        return []
    if _has_variable(value):
        return [_variable_warning(path, value)]
    if not value:
        return [ValidationIssue(path, f"{what} must not be empty")]
    match = _SCHEME.match(value)
    if match:
        if match.group(1).lower() not in schemes:
            allowed = ", ".join(f"{s}://" for s in schemes)
            return [ValidationIssue(path, f"unsupported scheme {match.group(1)!r} (a host path or {allowed})")]
        return []
    if not value.startswith("/"):
        return [ValidationIssue(path, f"host path {value!r} is not absolute", "warning")]
    return []


def _check_kind_specific(doc: dict, kind: str) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return issues
    if kind == "Dataset":
        issues += _check_location("spec.url", spec.get("url"), ("s3",), "url")
        fmt = spec.get("format")
        if isinstance(fmt, str) and not _has_variable(fmt) and fmt.lower() not in DATASET_FORMATS:
            issues.append(ValidationIssue("spec.format", f"unsupported format {fmt!r} (txt, csv or dir)"))
        node = spec.get("nodeName")
        if node == "":
            issues.append(ValidationIssue("spec.nodeName", "must not be empty (the dataset is sent to no node)"))
        elif _has_variable(node):
            issues.append(_variable_warning("spec.nodeName", node))
    elif kind == "Model":
        issues += _check_location("spec.url", spec.get("url"), ("s3", "http", "https"), "url")
    elif kind in ("IncrementalLearningJob", "LifelongLearningJob"):
        issues += _check_location("spec.outputDir", spec.get("outputDir"), ("s3",), "outputDir")
        prob = _get(doc, "spec.dataset.trainProb")
        if isinstance(prob, (int, float)) and not isinstance(prob, bool) and not 0 <= prob <= 1:
            issues.append(ValidationIssue("spec.dataset.trainProb", f"must be between 0 and 1, got {prob}"))
    elif kind == "FederatedLearningJob":
        if spec.get("trainingWorkers") == []:
            issues.append(ValidationIssue("spec.trainingWorkers", "needs at least one training worker"))
        for path, value in find(doc, "spec.transmitter.s3.aggDataPath"):
            if isinstance(value, str) and not _has_variable(value) and not value.startswith("s3://"):
                issues.append(ValidationIssue(path, f"{value!r} is not an s3:// URL"))
    elif kind == "FeatureExtractionService" and spec.get("replicas") is None:
        issues.append(ValidationIssue("spec.replicas", "required: the GM sizes the Deployment from it"))
    if kind == "JointInferenceService":
        for side in ("edgeWorker", "cloudWorker"):
            hpa = _get(doc, f"spec.{side}.hpa")
            if isinstance(hpa, dict):
                lo, hi = hpa.get("minReplicas", 1), hpa.get("maxReplicas")
                if isinstance(lo, int) and isinstance(hi, int) and (hi < 1 or lo > hi):
                    issues.append(ValidationIssue(f"spec.{side}.hpa",
                                                  f"needs 1 <= minReplicas <= maxReplicas, got {lo}..{hi}"))
    for pattern in ROUTING_TEMPLATES.get(kind, ()):
        for path, template in find(doc, pattern):
            node = template.get("spec", {}).get("nodeName") if isinstance(template, dict) else None
            if isinstance(template, dict) and isinstance(template.get("spec"), dict) and not node:
                issues.append(ValidationIssue(f"{path}.spec.nodeName", "not set: no LocalController will "
                                                                       "receive this object", "warning"))
    return issues


#: fields that never legitimately hold a ``$`` (unlike env values or args, where ``$(VAR)``/``$HOME`` are normal)
VARIABLE_FREE_KEYS = ("nodeName", "image", "serviceAccountName", "claimName")


def _unexpanded_variables(node: Any, parts: list[Any]) -> Iterator[ValidationIssue]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in VARIABLE_FREE_KEYS and _has_variable(value):
                yield _variable_warning(join_path([*parts, key]), value)
            elif isinstance(value, (dict, list)):
                yield from _unexpanded_variables(value, [*parts, key])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _unexpanded_variables(value, [*parts, i])


def check_object(doc: Any) -> list[ValidationIssue]:
    """Semantic problems of one sedna.io manifest (errors and warnings), in a stable order."""
    if not isinstance(doc, dict):
        return [ValidationIssue("", "object must be a mapping")]
    kind = doc.get("kind")
    from sedna.api.registry import lookup

    if not isinstance(kind, str) or lookup(kind) is None or lookup(kind).kind != kind:
        return [ValidationIssue("kind", f"unknown kind {kind!r}")]
    issues = _check_metadata(doc, kind)
    for pattern in REFERENCES.get(kind, ()):
        for path, value in find(doc, pattern):
            what = "secret name" if pattern.endswith("credentialName") else "reference name"
            issues += _check_name(path, value, what)
    for path, role in TRIGGERS.get(kind, ()):
        issues += _check_trigger(_get(doc, path), path, role)
    if kind in HEM_PATHS:
        issues += _check_hem(_get(doc, HEM_PATHS[kind]), HEM_PATHS[kind])
    issues += _check_kind_specific(doc, kind)
    reported = {i.path for i in issues}
    issues += [i for i in _unexpanded_variables(doc.get("spec"), ["spec"]) if i.path not in reported]
    return issues
