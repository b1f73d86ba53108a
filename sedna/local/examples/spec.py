"""The declaration of a runnable example: ``examples/<area>/<example>/example.yaml`` (docs/examples.md).

One small file says everything the runner needs and nothing it could guess: which nodes the cluster must have,
the CR YAMLs to apply (upstream's, with node names, paths and images substituted), the image map, the seeded
generator of data and models and where its files go on the nodes, what to watch, and the conditions that
mean success or failure. The runner (``runner.py``) only carries this out, so adding an example never means
touching the runner.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FILE_NAME = "example.yaml"


class SpecError(ValueError):
    """An example declaration that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Condition(_Strict):
    """One check against what is observed. Exactly one subject (``field``, ``pods``, ``files``, ``log``)
    with the tests that apply to it; every test given must hold."""

    field: str | None = None        # path into the target CR: status.stage, status.metrics[key=x].value
    pods: str | None = None         # worker type of the target's pods ("*" = every pod of the target)
    files: str | None = None        # "<node>:<node path>[/glob]": number of matching files
    log: str | None = None          # worker type whose pods' logs are searched ("*" = all)
    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    atLeast: float | None = None    # pods: at least this many pods pass (default 1)
    ready: bool | None = None       # pods: some pod of that type is Ready
    phase: str | None = None        # pods: some pod of that type is in this phase
    contains: str | None = None     # log: this text appears
    message: str | None = None      # shown instead of the generated description

    @model_validator(mode="after")
    def _one_subject(self) -> Condition:
        subjects = [s for s in ("field", "pods", "files", "log") if getattr(self, s) is not None]
        if len(subjects) != 1:
            raise ValueError("a condition needs exactly one of field, pods, files, log")
        if self.log is not None and self.contains is None:
            raise ValueError("a log condition needs contains")
        if self.files is not None and ":" not in self.files:
            raise ValueError(f"files {self.files!r}: write <node>:<node path>")
        if self.field is not None and self.equals is None and self.in_ is None and self.atLeast is None:
            raise ValueError(f"field {self.field!r}: give equals, in or atLeast")
        return self


class FileCopy(_Strict):
    """Copy ``from`` (a file or a folder's contents, relative to the prepared dir) to ``to`` = node:path."""

    from_: str = Field(alias="from")
    to: str
    when: list[Condition] = Field(default_factory=list)   # after apply: wait for these first

    @model_validator(mode="after")
    def _node_path(self) -> FileCopy:
        if ":" not in self.to or not self.to.split(":", 1)[1].startswith("/"):
            raise ValueError(f"to {self.to!r}: write <node>:/absolute/node/path")
        return self


class Prepare(_Strict):
    """The seeded generator, run in the example folder; ``{out}`` in ``command`` is the prepared dir."""

    command: list[str]
    files: list[FileCopy] = Field(default_factory=list)


class Target(_Strict):
    kind: str
    name: str
    namespace: str = "default"


class Bar(_Strict):
    """What the progress bar counts: a numeric field of the target or a number of files."""

    field: str | None = None
    files: str | None = None
    total: int
    unit: str = "it"


class Output(_Strict):
    path: str                       # node:path
    what: str = ""


class ExampleSpec(_Strict):
    name: str
    description: str
    shows: str = ""                 # what the example demonstrates (the docs table)
    nodes: list[str] = Field(default_factory=lambda: ["cloud-node", "edge-node"])
    imageMap: str
    manifests: list[str]
    prepare: Prepare | None = None
    clean: list[str] = Field(default_factory=list)      # node paths emptied before applying
    target: Target
    also: list[Target] = Field(default_factory=list)    # more objects of the manifests to watch like the target
    progress: dict[str, str] = Field(default_factory=dict)   # label -> field path into the target
    bar: Bar | None = None
    success: list[Condition]
    failure: list[Condition] = Field(
        default_factory=lambda: [Condition(field="status.conditions[-1].type", equals="Failed")])
    report: dict[str, str] = Field(default_factory=dict)     # label -> field path, printed at the end
    outputs: list[Output] = Field(default_factory=list)
    timeout: float = 300
    folder: Path = Field(default=Path("."), exclude=True)

    @property
    def worker_label(self) -> str:
        return f"{self.target.kind.lower()}.sedna.io/worker-type"

    @property
    def name_label(self) -> str:
        return f"{self.target.kind.lower()}.sedna.io/name"


def load(path: Path) -> ExampleSpec:
    """Read and check one ``example.yaml``; errors name the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping")
    try:
        spec = ExampleSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
                             for e in exc.errors())
        raise SpecError(f"{path}: {problems}") from exc
    spec.folder = path.parent.resolve()
    for rel in [spec.imageMap, *spec.manifests]:
        if not (spec.folder / rel).is_file():
            raise SpecError(f"{path}: {rel}: no such file in {spec.folder}")
    return spec


def examples_root() -> Path:
    """``$SEDNA_EXAMPLES_DIR``, else the source tree's ``examples/``."""
    env = os.environ.get("SEDNA_EXAMPLES_DIR")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[3] / "examples"


def discover(root: Path | None = None) -> dict[str, ExampleSpec]:
    """Every example under ``root`` by name (a duplicate name is an error)."""
    root = root or examples_root()
    found: dict[str, ExampleSpec] = {}
    for path in sorted(root.rglob(FILE_NAME)):
        spec = load(path)
        if spec.name in found:
            raise SpecError(f"{path}: example name {spec.name!r} is also used by {found[spec.name].folder}")
        found[spec.name] = spec
    return found
