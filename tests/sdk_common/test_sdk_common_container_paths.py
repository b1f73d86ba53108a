"""Container paths that reach a worker as data (``FileOps``), and the SDK's INFO logging in workers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sedna.common.file_ops import ROOTFS_ENV, FileOps, container_path


@pytest.fixture
def rootfs(tmp_path, monkeypatch):
    """A container view as the single-machine runtime builds it: /model-hot-update is a mount (symlink),
    /home is only the parent of the mount /home/work."""
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "model.npz").write_bytes(b"weights")
    root = tmp_path / "rootfs"
    (root / "home").mkdir(parents=True)
    (root / "model-hot-update").symlink_to(volume)
    (root / "home" / "work").symlink_to(tmp_path)
    monkeypatch.setenv(ROOTFS_ENV, str(root))
    return root


@pytest.mark.parametrize("path, mapped", [
    ("/model-hot-update/model.npz", "model-hot-update/model.npz"),
    ("/model-hot-update/new/file", "model-hot-update/new/file"),     # not there yet: a write target
    ("/model-hot-update", "model-hot-update"),
    ("/home/work/x", "home/work/x"),
    ("/home/someone/else", None),                                    # /home is only a parent of mounts
    ("/etc/hostname", None),
    ("relative/path", None),
])
def test_container_path(rootfs, path, mapped):
    assert container_path(path) == (str(rootfs / mapped) if mapped else path)


def test_container_path_is_identity_off_the_local_runtime(monkeypatch):
    monkeypatch.delenv(ROOTFS_ENV, raising=False)
    assert container_path("/model-hot-update/model.npz") == "/model-hot-update/model.npz"


def test_fileops_reads_a_container_path_written_in_a_file(rootfs, tmp_path):
    # what the hot updater does with the LC's model_config.json
    assert FileOps.is_local("/model-hot-update/model.npz")
    got = FileOps.download("/model-hot-update/model.npz", str(tmp_path / "copy.npz"))
    assert open(got, "rb").read() == b"weights"
    assert container_path(str(rootfs / "model-hot-update" / "model.npz")).startswith(str(rootfs))


SCRIPT = """
import logging
from sedna.common.log import enable_worker_logging
enable_worker_logging()
enable_worker_logging()                       # idempotent: one line per record
logging.getLogger("sedna.core.base").info("info line")
logging.getLogger("sedna.core.base").debug("debug line")
logging.getLogger("sedna.core.base").warning("warning line")
"""


@pytest.mark.parametrize("level, shown", [(None, ["info line", "warning line"]),
                                          ("DEBUG", ["info line", "debug line", "warning line"]),
                                          ("WARNING", ["warning line"])])
def test_worker_logs_sdk_progress_at_log_level(level, shown):
    env = {k: v for k, v in os.environ.items() if k != "LOG_LEVEL"}
    env["JOB_NAME"] = "job-x"
    if level:
        env["LOG_LEVEL"] = level
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    lines = done.stderr.splitlines()
    assert [line.rsplit(": ", 1)[1] for line in lines] == shown
    assert all("[sedna.core.base]" in line for line in lines)


def test_worker_logging_stays_out_of_a_configured_process():
    script = "import logging; logging.basicConfig(level=logging.WARNING)\n" + SCRIPT
    env = {k: v for k, v in os.environ.items() if k != "LOG_LEVEL"}
    env["JOB_NAME"] = "job-x"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    assert done.stderr.splitlines() == ["WARNING:sedna.core.base:warning line"]
