"""Table tests of the ``sedna local`` command helpers: node specs, ages, tables, resource resolution."""

from datetime import datetime, timezone

import pytest

from sedna.local import client as cl
from sedna.local.supervisor import parse_nodes


@pytest.mark.parametrize("text,want", [
    ("cloud-node,edge-node", [("cloud-node", {}), ("edge-node", {})]),
    ("a:role=edge;zone=z1, b", [("a", {"role": "edge", "zone": "z1"}), ("b", {})]),
    ("solo,", [("solo", {})]),
])
def test_parse_nodes(text, want):
    assert parse_nodes(text) == want


@pytest.mark.parametrize("text", ["", "a:novalue", ",".join(f"n{i}" for i in range(31))])
def test_parse_nodes_rejects(text):
    with pytest.raises(ValueError):
        parse_nodes(text)


NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("stamp,want", [
    ("2026-01-02T03:04:00Z", "5s"), ("2026-01-02T03:02:06Z", "119s"), ("2026-01-02T03:02:05Z", "2m"), ("2026-01-02T02:54:05Z", "10m"),
    ("2026-01-02T00:04:05Z", "3h"), ("2025-12-30T03:04:05Z", "3d"), (None, "<unknown>"), ("junk", "<unknown>"),
])
def test_age(stamp, want):
    assert cl.age(stamp, NOW) == want


def test_table_rows_from_server_table_and_from_list():
    table = {"kind": "Table", "columnDefinitions": [{"name": "Name"}, {"name": "Status"},
                                                    {"name": "IP", "priority": 1}],
             "rows": [{"cells": ["p1", "Running", "127.20.16.1"], "object": {"metadata": {"namespace": "ns"}}},
                      {"cells": ["p2", None, ["a", "b"]], "object": {"metadata": {"namespace": "ns"}}}]}
    assert cl.table_rows(table, wide=False, with_namespace=False) == [["NAME", "STATUS"], ["p1", "Running"],
                                                                      ["p2", "<none>"]]
    assert cl.table_rows(table, wide=True, with_namespace=True)[2] == ["ns", "p2", "<none>", "a,b"]
    listing = {"kind": "PodList", "items": [{"metadata": {"name": "x", "namespace": "d"}}]}
    assert cl.table_rows(listing, wide=False, with_namespace=True) == [["NAMESPACE", "NAME", "AGE"],
                                                                       ["d", "x", "<unknown>"]]
    assert cl.format_table([["NAME", "AGE"], ["long-name", "1s"]]) == "NAME        AGE\nlong-name   1s"
    assert cl.format_table([["NAME"]]) == ""


class FakeClient(cl.Client):
    def __init__(self):
        self._resources = [
            cl.Resource("", "v1", "pods", "Pod", True, "pod", ("po",)),
            cl.Resource("apps", "v1", "deployments", "Deployment", True, "deployment", ("deploy",)),
            cl.Resource("sedna.io", "v1alpha1", "datasets", "Dataset", True, "dataset", ()),
            cl.Resource("", "v1", "nodes", "Node", False, "node", ("no",)),
        ]


@pytest.mark.parametrize("name,plural", [
    ("pods", "pods"), ("pod", "pods"), ("po", "pods"), ("Pod", "pods"), ("deploy", "deployments"),
    ("datasets.sedna.io", "datasets"), ("dataset.v1alpha1.sedna.io", "datasets"), ("Dataset", "datasets"),
    ("no", "nodes"),
])
def test_resolve(name, plural):
    assert FakeClient().resolve(name).plural == plural


def test_resolve_unknown_and_paths():
    fake = FakeClient()
    with pytest.raises(cl.ClientError, match="doesn't have a resource type"):
        fake.resolve("gadgets")
    assert fake.resolve("pods").path("ns", "p") == "/api/v1/namespaces/ns/pods/p"
    assert fake.resolve("datasets").path("d") == "/apis/sedna.io/v1alpha1/namespaces/d/datasets"
    assert fake.resolve("nodes").path("ignored", "n1") == "/api/v1/nodes/n1"
    assert fake.for_object({"apiVersion": "apps/v1", "kind": "Deployment"}).plural == "deployments"
    with pytest.raises(cl.ClientError, match="no matches for kind"):
        fake.for_object({"apiVersion": "v2", "kind": "Pod"})
