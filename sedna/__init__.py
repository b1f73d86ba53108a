"""Sedna: edge-cloud collaborative AI on Kubernetes (Python reimplementation)."""

__version__ = "0.1.0"

from sedna import algorithms  # noqa: E402,F401  (registers built-in algorithms, as upstream's import does)

from sedna.common import cluster_dns as _cluster_dns  # noqa: E402

_cluster_dns.install()  # only in single-machine mode pods (SEDNA_SERVICE_HOSTS set): Service names as cluster DNS
