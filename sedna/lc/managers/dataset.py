"""Dataset manager (§7): count samples of the node's datasets and report ``numberOfSamples`` on change.

Each dataset gets a monitor task that polls the file's signature (mtime+size, or ETag+size on S3) every
``LC_DATASET_POLL_SECONDS`` (default 60 s, upstream's period) and re-counts only when it changed. Counting runs
in a worker thread with bounded memory (``samples.count_lines``). S3 files are downloaded to an LC-private cache
file, kept while the dataset exists so incremental/lifelong jobs can read sample ranges lazily.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from sedna.lc import samples
from sedna.lc.managers.base import LCContext, Manager, meta
from sedna.lc.outbox import OutboxFull
from sedna.lc.storage import Storage, check_url, is_s3, url_prefix

logger = logging.getLogger(__name__)


@dataclass
class DatasetState:
    namespace: str
    name: str
    url: str
    format: str
    storage: Storage
    local_path: str = ""         # file the LC reads (rootfs path or the S3 cache copy)
    signature: tuple | None = None
    count: int | None = None     # None until the file has been read once
    header: str = ""
    last_reported: int = 0
    last_error: str = ""
    task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def remote(self) -> bool:
        return is_s3(self.url)

    @property
    def prefix(self) -> str:
        return url_prefix(self.url)

    def iter_samples(self, ranges: list[tuple[int, int]]):
        return samples.iter_samples(self.local_path, self.format, ranges)


class DatasetManager(Manager):
    kind = "dataset"
    object_kind = "Dataset"

    def __init__(self, ctx: LCContext) -> None:
        super().__init__(ctx)
        self.states: dict[str, DatasetState] = {}
        self._cache_dir = tempfile.mkdtemp(prefix="sedna-lc-datasets-")

    def get(self, namespace: str, name: str) -> DatasetState | None:
        return self.states.get(self.key(namespace, name))

    async def insert(self, obj: dict[str, Any], *, from_store: bool = False) -> None:
        node = (obj.get("spec") or {}).get("nodeName", "")
        if node and node != self.ctx.config.node_name:
            md = meta(obj)
            logger.warning("dataset %s is for node %r, this LC is %r: ignored",
                           md.get("name"), node, self.ctx.config.node_name)
            if self.key(md.get("namespace") or "default", md.get("name", "")) in self.objects:
                await self.delete(md.get("namespace") or "default", md.get("name", ""))  # moved away
            return
        spec = obj.get("spec") or {}
        check_url(spec.get("url", ""), "spec.url")
        await super().insert(obj, from_store=from_store)

    async def started(self, key: str, obj: dict[str, Any], first: bool) -> None:
        spec = obj.get("spec") or {}
        md = meta(obj)
        storage = self.ctx.storage_for(obj)
        state = self.states.get(key)
        if state is None or state.url != spec["url"] or state.format != spec.get("format", ""):
            if state is not None and state.task is not None:
                state.task.cancel()
            state = DatasetState(md.get("namespace") or "default", md["name"], spec["url"],
                                 spec.get("format", ""), storage)
            self.states[key] = state
            state.task = asyncio.create_task(self._monitor(key, state), name=f"dataset-{key}")
        else:
            state.storage = storage  # credentials may have rotated

    async def stopped(self, key: str, obj: dict[str, Any]) -> None:
        state = self.states.pop(key, None)
        if state is not None and state.task is not None:
            state.task.cancel()
            await asyncio.gather(state.task, return_exceptions=True)
            if state.remote and state.local_path:
                try:
                    os.unlink(state.local_path)
                except FileNotFoundError:
                    pass

    async def close(self) -> None:
        await super().close()
        shutil.rmtree(self._cache_dir, ignore_errors=True)

    def refresh(self, state: DatasetState) -> bool:
        """Re-read the file if its signature changed; True when ``state.count`` was (re)computed."""
        fmt = samples.normalize_format(state.format)
        if fmt == "dir":
            return self._refresh_dir(state)
        signature = state.storage.signature(state.url)
        if signature == state.signature and state.count is not None:
            return False
        if state.remote:
            path = os.path.join(self._cache_dir, f"{state.namespace}_{state.name}.{fmt}")
            tmp = path + ".part"
            state.storage.download(state.url, tmp)
            os.replace(tmp, path)
        else:
            path = state.storage.host_path(state.url)
        count = samples.count_samples(path, fmt)
        state.local_path = path
        state.header = samples.read_header(path) if fmt == "csv" else ""
        state.count = count
        state.signature = signature
        return True

    def _refresh_dir(self, state: DatasetState) -> bool:
        """A ``dir`` dataset is recounted every period: a directory's mtime misses changes in subdirectories,
        and walking it is as cheap as any signature would be."""
        if state.remote:
            raise samples.SampleFileError(f"format dir needs a host path, not {state.url!r}")
        path = state.storage.host_path(state.url)
        count = samples.count_samples(path, "dir")
        changed = count != state.count
        state.local_path, state.header, state.count = path, "", count
        return changed

    async def _monitor(self, key: str, state: DatasetState) -> None:
        period = self.ctx.config.dataset_poll_seconds
        while True:
            try:
                changed = await asyncio.to_thread(self.refresh, state)
                state.last_error = ""
                if changed:
                    self.ctx.metrics.dataset_samples.labels(state.namespace, state.name).set(state.count)
                    logger.info("dataset %s: %d samples", key, state.count)
                if state.count is not None and state.count != state.last_reported:
                    self.ctx.send_status(self.object_kind, state.namespace, state.name,
                                         {"numberOfSamples": state.count},
                                         coalesce_key=f"dataset/{state.namespace}/{state.name}")
                    state.last_reported = state.count
            except asyncio.CancelledError:
                raise
            except OutboxFull:
                pass  # logged by the outbox; retried next period
            except Exception as exc:  # noqa: BLE001 - OSError, StorageError, SampleFileError, S3: keep polling
                text = f"{type(exc).__name__}: {exc}"
                if text != state.last_error:  # log each distinct problem once, not every period
                    logger.warning("dataset %s: cannot read %s: %s", key, state.url, text)
                    state.last_error = text
            await asyncio.sleep(period)
