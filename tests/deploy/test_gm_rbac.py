"""Least privilege: the chart's GM ClusterRole grants exactly what the GM's code uses, derived from the code.

The GM reaches the API in two ways, and both are read from the source here, so a new call cannot go
unnoticed (nor a grant outlive the call that needed it):

- its own client, ``sedna.gm.kube.KubeClient``: every ``self.kube.<method>(...)`` call in ``sedna/gm``; each
  method's HTTP requests are read from ``kube.py`` (``_request("VERB", ...)``, through the helpers it calls)
  and turned into Kubernetes verbs. ``*_cr*`` methods act on the sedna.io kinds (``*status*`` on their
  ``/status``), ``get_secret`` on Secrets, ``*_object`` methods on the children the GM observes (the
  ``kinds`` of ``GlobalManager.observe``) and ``create_object`` also on Events (``post_event``); the generic
  methods (``list(prefix, plural, ...)``) on the resource their call site names; the owned-object cache
  (``sedna/gm/informer.py``: ``_request("GET")`` and ``watch`` of its ``KINDS``) lists and watches its kinds;
- kopf: ``list``/``watch`` of every resource a ``kopf.on.*`` handler is registered for, ``patch`` on the
  sedna.io kinds (finalizer and progress annotations), plus what kopf itself needs to scan the cluster
  (CRDs and namespaces: list/watch, per kopf's RBAC documentation) and, with peering, its peering objects.

The emulator enforces no RBAC, so this comparison is the check.
"""

from __future__ import annotations

import ast
from pathlib import Path

from deploy_support import REPO, by_kind, render

from sedna.api.registry import KINDS
from sedna.gm.kube import KIND_PATHS

GM = REPO / "sedna" / "gm"
GENERIC = {"get", "list", "create", "replace", "delete", "merge_patch"}
INFORMER_METHODS = {"_request", "watch"}      # only the owned-object cache calls these (list + watch)
HTTP_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
KOPF_SCANNING = {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")} | \
    {("", "namespaces", v) for v in ("list", "watch")}
KOPF_PEERING = {("kopf.dev", r, v) for r in ("clusterkopfpeerings", "kopfpeerings")
                for v in ("get", "list", "watch", "patch")}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def client_method_verbs() -> dict[str, set[str]]:
    """KubeClient method -> the Kubernetes verbs of the requests it makes (directly or via its helpers)."""
    cls = next(n for n in _tree(GM / "kube.py").body if isinstance(n, ast.ClassDef) and n.name == "KubeClient")
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for fn in (n for n in cls.body if isinstance(n, ast.AsyncFunctionDef | ast.FunctionDef)):
        direct[fn.name], calls[fn.name] = set(), set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
                if node.func.attr == "_request" and isinstance(node.args[0], ast.Constant):
                    http = node.args[0].value
                    if http == "GET":
                        verb = "list" if fn.name.startswith("list") else "get"
                    else:
                        verb = HTTP_VERBS[http]
                    direct[fn.name].add(verb)
                else:
                    calls[fn.name].add(node.func.attr)

    def resolve(name: str, seen: frozenset = frozenset()) -> set[str]:
        out = set(direct.get(name, ()))
        for callee in calls.get(name, ()) - seen:
            out |= resolve(callee, seen | {name})
        return out
    return {name: resolve(name) for name in direct}


def gm_client_calls() -> set[str]:
    """Names of the KubeClient methods the GM code calls (``self.kube.X(...)`` / ``gm.kube.X(...)``)."""
    used = set()
    for path in GM.rglob("*.py"):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "kube":
                used.add(node.func.attr)
    return used - {"close"}


def observed_child_kinds() -> list[str]:
    """The ``kinds`` the GM lists to observe a job's children (``GlobalManager.observe``), incl. appended."""
    tree = _tree(GM / "operator.py")
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef) and n.name == "observe")
    kinds = []
    for node in ast.walk(fn):
        if isinstance(node, ast.List) and all(isinstance(e, ast.Constant) for e in node.elts):
            kinds += [e.value for e in node.elts]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append" \
                and isinstance(node.args[0], ast.Constant):
            kinds.append(node.args[0].value)
    return kinds


def kopf_watched() -> set[tuple[str, str]]:
    """(group, plural) of every resource a kopf handler is registered for in the GM."""
    from sedna.gm.config import GMConfig
    from sedna.gm.kube import Connection, KubeClient
    from sedna.gm.operator import GlobalManager, build_registry

    gm = GlobalManager(GMConfig(), KubeClient(Connection("http://127.0.0.1:9")))
    registry = build_registry(gm)
    out = set()
    for handler in registry._spawning.get_all_handlers() + registry._changing.get_all_handlers() + \
            registry._watching.get_all_handlers():
        sel = handler.selector
        out.add((sel.group or "", sel.plural or sel.any_name))
    return out


def _group_plural(kind: str) -> tuple[str, str]:
    prefix, plural = KIND_PATHS[kind]
    return ("" if prefix == "/api/v1" else prefix.split("/")[2]), plural


def generic_call_targets() -> dict[str, set[tuple[str, str]]]:
    """Generic KubeClient methods -> the (group, plural) their call sites in sedna/gm name as constants."""
    out: dict[str, set[tuple[str, str]]] = {}
    for path in GM.rglob("*.py"):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "kube" \
                    and node.func.attr in GENERIC and len(node.args) >= 2 \
                    and all(isinstance(a, ast.Constant) for a in node.args[:2]):
                prefix, plural = node.args[0].value, node.args[1].value
                group = "" if prefix == "/api/v1" else prefix.split("/")[2]
                out.setdefault(node.func.attr, set()).add((group, plural))
    return out


def informer_kinds() -> list[str]:
    from sedna.gm.informer import KINDS as CACHED

    return list(CACHED)


def derived_permissions(peering: bool = False) -> set[tuple[str, str, str]]:
    verbs = client_method_verbs()
    used = gm_client_calls() - INFORMER_METHODS
    generic = generic_call_targets()
    assert used <= set(verbs), f"GM calls methods KubeClient does not define: {used - set(verbs)}"
    sedna_plurals = {k.plural for k in KINDS}
    children = {_group_plural(k) for k in observed_child_kinds()}
    perms: set[tuple[str, str, str]] = set()
    for method in used:
        if "_cr" in method:
            sub = "/status" if "status" in method else ""
            targets = {("sedna.io", p + sub) for p in sedna_plurals}
        elif "secret" in method:
            targets = {("", "secrets")}
        elif "_object" in method:
            targets = set(children) | ({_group_plural("Event")} if method == "create_object" else set())
        elif method in generic:
            targets = generic[method]
        else:
            raise AssertionError(f"no rule for KubeClient.{method}: say which resources it touches")
        perms |= {(g, r, v) for g, r in targets for v in verbs[method]}
    for group, plural in map(_group_plural, informer_kinds()):
        perms |= {(group, plural, "list"), (group, plural, "watch")}
    for group, plural in kopf_watched():
        perms |= {(group, plural, "list"), (group, plural, "watch")}
        if group == "sedna.io":
            perms.add((group, plural, "patch"))
    perms |= KOPF_SCANNING
    if peering:
        perms |= KOPF_PEERING
    return perms


def granted(values: dict | None = None) -> set[tuple[str, str, str]]:
    role = by_kind(render(values))[("ClusterRole", "sedna")]
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}


def test_gm_cluster_role_grants_exactly_what_the_code_uses():
    want, have = derived_permissions(), granted()
    assert sorted(have - want) == [], "granted but not used"
    assert sorted(want - have) == [], "used but not granted"


def test_with_peering_kopf_gets_its_peering_objects():
    assert granted({"gm": {"peering": "sedna"}}) == derived_permissions(peering=True)


def test_the_derivation_sees_the_calls():
    """The AST readers find real calls (so the comparison above cannot pass vacuously)."""
    assert {"get_cr", "replace_cr_status", "create_object", "list_objects", "get_secret"} <= gm_client_calls()
    verbs = client_method_verbs()
    assert verbs["replace_cr_status"] == {"update"} and verbs["list_objects"] == {"list"}
    assert verbs["delete_object"] == {"delete"} and verbs["patch_cr_annotations"] == {"patch"}
    assert {"Pod", "Deployment", "Service", "HorizontalPodAutoscaler"} <= set(observed_child_kinds())
    watched = kopf_watched()
    assert ("sedna.io", "datasets") in watched
    assert {"Pod", "Deployment", "Service"} <= set(informer_kinds())
    assert generic_call_targets()["list"] == {("", "nodes")}
    perms = derived_permissions()
    assert ("", "pods", "watch") in perms and ("", "nodes", "list") in perms
    assert ("", "events", "create") in perms and ("", "events", "delete") not in perms
    assert ("sedna.io", "jointinferenceservices/status", "update") in perms
