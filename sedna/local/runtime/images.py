"""The image map: what "running an image" means when there are no images.

A container's image selects an entry of the image map (the ``images:`` section of the ``sedna local``
config file, merged with the pod annotation ``local.sedna.io/image-map``). An entry plays the part of the
image's metadata and content::

    python: /usr/bin/python3          # optional: interpreter for `python`/`python3` words (default: ours)
    images:
      example/little-model:v1:        # exact image; `example/little-model` matches any tag; globs allowed
        entrypoint: [python, little_model.py]   # Docker ENTRYPOINT
        cmd: [--verbose]                        # Docker CMD
        workingDir: /home/work                  # Docker WORKDIR (a container path)
        env: {PYTHONPATH: /home/work}           # Docker ENV (container env wins)
        paths: {/home/work: ../examples/little} # image content: container path -> host path
        python: /opt/py311/bin/python           # interpreter for this image only

Relative host paths are relative to the file that declares them. Images with no entry run the container's
``command``/``args`` as given (so ``command: [python, -c, ...]`` works with any image name); such a container
without a ``command`` cannot start (``CreateContainerError``).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ANNOTATION = "local.sedna.io/image-map"
_PYTHON_RE = re.compile(r"^python(3(\.\d+)?)?$")


class ImageError(ValueError):
    """The container cannot be turned into a command line."""


@dataclass
class ImageEntry:
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    working_dir: str = ""
    env: dict[str, str] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    python: str = ""


@dataclass
class ImageMap:
    entries: dict[str, ImageEntry] = field(default_factory=dict)
    python: str = field(default_factory=lambda: sys.executable)

    def lookup(self, image: str) -> ImageEntry | None:
        if image in self.entries:
            return self.entries[image]
        bare = _strip_tag(image)
        if bare in self.entries:
            return self.entries[bare]
        for pattern, entry in self.entries.items():
            if any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(image, pattern):
                return entry
        return None

    def merged(self, other: ImageMap | None) -> ImageMap:
        if other is None:
            return self
        return ImageMap({**self.entries, **other.entries}, self.python)


def _strip_tag(image: str) -> str:
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        return image[: len(image) - len(last)] + last.split(":", 1)[0]
    return image


def _words(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return [str(v) for v in value]
    raise ImageError(f"{where}: expected a list of strings")


def parse_image_map(doc: Mapping[str, Any] | None, base_dir: Path | None = None) -> ImageMap:
    """Build an :class:`ImageMap` from the config document (``{python:, images: {...}}``)."""
    doc = doc or {}
    if not isinstance(doc, Mapping):
        raise ImageError("image map: expected a mapping")
    images = doc.get("images") or {}
    if not isinstance(images, Mapping):
        raise ImageError("image map: 'images' must be a mapping of image -> entry")
    base = base_dir or Path.cwd()

    def host(p: str) -> str:
        path = Path(os.path.expanduser(str(p)))
        return str(path if path.is_absolute() else (base / path).resolve())

    entries: dict[str, ImageEntry] = {}
    for image, raw in images.items():
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise ImageError(f"image map: entry for {image!r} must be a mapping")
        unknown = set(raw) - {"entrypoint", "cmd", "workingDir", "env", "paths", "python"}
        if unknown:
            raise ImageError(f"image map: entry for {image!r} has unknown keys {sorted(unknown)}")
        paths = raw.get("paths") or {}
        if not isinstance(paths, Mapping):
            raise ImageError(f"image map: {image}.paths must map container paths to host paths")
        entries[str(image)] = ImageEntry(
            entrypoint=_words(raw.get("entrypoint"), f"{image}.entrypoint"),
            cmd=_words(raw.get("cmd"), f"{image}.cmd"),
            working_dir=str(raw.get("workingDir") or ""),
            env={str(k): str(v) for k, v in (raw.get("env") or {}).items()},
            paths={str(k): host(v) for k, v in paths.items()},
            python=host(raw["python"]) if raw.get("python") else "",
        )
    python = host(doc["python"]) if doc.get("python") else sys.executable
    return ImageMap(entries, python)


#: sedna's own images (Dockerfile.gm, Dockerfile.lc; any tag) as this interpreter runs them, so the Helm chart's
#: GM Deployment and LC DaemonSet run here unchanged. Same ENTRYPOINT/CMD as the Dockerfiles (tested).
SEDNA_IMAGES = {
    "sedna/gm": {"entrypoint": ["python", "-m", "sedna", "gm"], "cmd": ["--config", "/etc/sedna/gm.yaml"]},
    "sedna/lc": {"entrypoint": ["python", "-m", "sedna", "lc"]},
}


def load_image_map(path: str | Path | None) -> ImageMap:
    if not path:
        return ImageMap()
    path = Path(path)
    with path.open() as fh:
        doc = yaml.safe_load(fh)
    return parse_image_map(doc, path.resolve().parent)


def with_sedna_images(imap: ImageMap) -> ImageMap:
    """``imap`` over the built-in :data:`SEDNA_IMAGES` (what a node agent runs with); ``imap``'s entries and
    interpreter win."""
    builtin = parse_image_map({"images": SEDNA_IMAGES})
    return ImageMap({**builtin.entries, **imap.entries}, imap.python)


def annotation_image_map(pod: Mapping[str, Any]) -> ImageMap | None:
    text = ((pod.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        doc = yaml.safe_load(text)
    if isinstance(doc, Mapping) and "images" not in doc:
        doc = {"images": doc}
    return parse_image_map(doc)


def container_argv(container: Mapping[str, Any], entry: ImageEntry | None, python: str) -> list[str]:
    """Docker's rule: ``command`` replaces ENTRYPOINT (and drops CMD), ``args`` replaces CMD.

    A first word ``python``/``python3``/``python3.N`` (any directory) becomes the interpreter."""
    command = _words(container.get("command"), "command")
    args = container.get("args")
    if command:
        argv = command + _words(args, "args")
    else:
        if entry is None or not (entry.entrypoint or entry.cmd or args):
            raise ImageError(f"image {container.get('image')!r} is not in the image map and container "
                             f"{container.get('name')!r} has no command")
        argv = list(entry.entrypoint) + (_words(args, "args") if args is not None else list(entry.cmd))
    if not argv:
        raise ImageError(f"container {container.get('name')!r}: empty command line")
    if _PYTHON_RE.match(os.path.basename(argv[0])):
        argv[0] = (entry.python if entry and entry.python else "") or python
    return argv
