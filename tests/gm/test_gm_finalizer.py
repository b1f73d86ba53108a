"""The GM's own finalizer decisions (sedna/gm/finalizer.py)."""

import pytest

from sedna.gm.finalizer import ADD, FINALIZER, RELEASE, finalizer_action, finalizer_patch


@pytest.mark.parametrize("meta, expected", [
    ({}, ADD),
    ({"finalizers": ["other"]}, ADD),
    ({"finalizers": [FINALIZER]}, None),
    ({"finalizers": ["other", FINALIZER]}, None),
    ({"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": [FINALIZER]}, RELEASE),
    ({"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["other", FINALIZER]}, RELEASE),
    ({"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["other"]}, None),
    ({"deletionTimestamp": "2026-01-01T00:00:00Z"}, None),
])
def test_action(meta, expected):
    assert finalizer_action(meta) == expected


def test_add_keeps_other_finalizers_and_guards_the_version():
    patch = finalizer_patch({"finalizers": ["a"], "resourceVersion": "7"}, ADD)
    assert patch == {"metadata": {"finalizers": ["a", FINALIZER], "resourceVersion": "7"}}
    assert finalizer_patch({"resourceVersion": "1"}, ADD)["metadata"]["finalizers"] == [FINALIZER]
    assert finalizer_patch({"finalizers": [FINALIZER]}, ADD)["metadata"]["finalizers"] == [FINALIZER]


def test_release_removes_only_ours():
    meta = {"finalizers": ["a", FINALIZER, "b"], "resourceVersion": "9", "deletionTimestamp": "x"}
    assert finalizer_patch(meta, RELEASE) == {"metadata": {"finalizers": ["a", "b"], "resourceVersion": "9"}}
    assert finalizer_patch({"finalizers": [FINALIZER]}, RELEASE)["metadata"]["finalizers"] == []


def test_unknown_action_is_refused():
    with pytest.raises(ValueError, match="unknown finalizer action"):
        finalizer_patch({}, "keep")
