"""The single-machine cluster's Service name table (sedna.common.cluster_dns): names searched as a pod's
resolv.conf does, the file written atomically, and a worker process resolving a Service that appears after it
started (what lets one `kubectl apply` of mutually dependent jobs work)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sedna.common import cluster_dns

HOSTS = {"feature-extraction-fe.default.svc.cluster.local": "127.1.1.5",
         "kb.other.svc.cluster.local": "127.1.1.6"}


@pytest.mark.parametrize("host, namespace, expected", [
    ("feature-extraction-fe", "default", "127.1.1.5"),            # bare name, own namespace
    ("feature-extraction-fe.default", "other", "127.1.1.5"),      # svc.ns from another namespace
    ("feature-extraction-fe.default.svc", "default", "127.1.1.5"),
    ("feature-extraction-fe.default.svc.cluster.local", "x", "127.1.1.5"),
    ("FEATURE-EXTRACTION-FE.default.", "default", "127.1.1.5"),   # case, trailing dot
    ("feature-extraction-fe", "other", None),                     # bare name of another namespace
    ("kb", "other", "127.1.1.6"),
    ("127.0.0.1", "default", None),                               # addresses go to the system resolver
    ("localhost", "default", None),
    ("", "default", None),
])
def test_lookup_searches_like_a_pod_resolver(host, namespace, expected):
    assert cluster_dns.lookup(host, HOSTS, namespace) == expected


def test_table_document_skips_services_without_cluster_ip():
    services = [
        {"metadata": {"name": "a", "namespace": "ns"}, "spec": {"clusterIP": "127.1.1.9"}},
        {"metadata": {"name": "headless", "namespace": "ns"}, "spec": {"clusterIP": "None"}},
        {"metadata": {"name": "pending", "namespace": "ns"}, "spec": {}},
    ]
    assert cluster_dns.table_document(services) == {"domain": "cluster.local",
                                                    "hosts": {"a.ns.svc.cluster.local": "127.1.1.9"}}


def test_hosts_table_rereads_the_file_when_it_changes(tmp_path):
    path = tmp_path / "services.json"
    table = cluster_dns.HostsTable(path, "default")
    assert table.resolve("fe") is None                                        # no file yet
    cluster_dns.write_table(path, [{"metadata": {"name": "fe", "namespace": "default"},
                                    "spec": {"clusterIP": "127.1.1.7"}}])
    assert table.resolve("fe") == "127.1.1.7"
    cluster_dns.write_table(path, [])
    assert table.resolve("fe") is None
    assert [p.name for p in tmp_path.iterdir()] == ["services.json"]          # no temp file left


def test_a_process_resolves_a_service_that_appears_after_it_started(tmp_path):
    """The worker imports sedna (installing the lookup), the name does not resolve, the table gains the
    Service, the next connection reaches it."""
    path = tmp_path / "services.json"
    script = textwrap.dedent("""
        import socket, sys, time, sedna
        def resolve():
            try:
                return socket.getaddrinfo("late-svc", 80, proto=socket.IPPROTO_TCP)[0][4][0]
            except socket.gaierror:
                return None
        print("before", resolve(), flush=True)
        sys.stdin.readline()
        print("after", resolve(), socket.gethostbyname("late-svc.team"), flush=True)
    """)
    env = {**os.environ, cluster_dns.HOSTS_ENV: str(path), cluster_dns.NAMESPACE_ENV: "team"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().split() == ["before", "None"]
        path.write_text(json.dumps({"domain": "cluster.local",
                                    "hosts": {"late-svc.team.svc.cluster.local": "127.1.2.3"}}))
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().split() == ["after", "127.1.2.3", "127.1.2.3"]
    finally:
        proc.kill()
        proc.wait()
