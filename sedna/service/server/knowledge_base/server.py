"""``KBServer``: the lifelong-learning knowledge base — a task index in SQLite and a file store (sdk.md §8.3).

Routes (prefix ``/knowledgebase``), as upstream:

| Method | Path | Body | Answer |
|---|---|---|---|
| POST | ``/update`` | multipart ``task``: the JSON index document | ``"/file/download?files=index.pkl&name=index.pkl"`` |
| POST | ``/update/status`` | JSON ``{"status": 0/1, "tasks": "a,b"}`` | same string |
| POST | ``/query`` | — | the task groups in the DB and the index location (upstream: a stub) |
| GET | ``/file/download?files=<name>&name=<name>`` | — | the file, as an attachment |
| POST | ``/file/upload`` | multipart ``file`` | ``"/file/download?files=<name>&name=<name>"`` |

Differences from upstream, for safety: the index is JSON (never unpickled); files are only read and written
directly inside the save directory (names with ``/``, ``\\``, ``..``, a leading dot or control characters
→ 400; nothing follows symlinks out); bodies over ``max_upload_size`` → 413; an optional bearer token (env
``SEDNA_KB_TOKEN``) guards every route; errors carry a reason (400 bad input, 401 token, 404 missing,
413 too large, 415 wrong content type, 422 invalid index document).
"""

from __future__ import annotations

import asyncio
import json
import logging
import mmap
import os
import re
import tempfile
import threading
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from sedna.algorithms.knowledge_management.kb_index import (
    IndexDoc,
    apply_task_status,
    dumps_index,
    loads_index,
)
from sedna.common.constant import KBResourceConstant
from sedna.service.server.base import UvicornService, add_bearer_token
from sedna.service.server.base import error_response as _error
from sedna.service.server.knowledge_base.model import (
    Base,
    Samples,
    TaskGrp,
    TaskModels,
    TaskRelation,
    Tasks,
    TaskSample,
)

__all__ = ["DEFAULT_MAX_UPLOAD", "TOKEN_ENV", "KBServer", "create_kb_app", "parse_multipart", "safe_file_name"]

logger = logging.getLogger(__name__)

TOKEN_ENV = "SEDNA_KB_TOKEN"
MAX_CONCURRENT_UPLOADS = 4
MAX_UPLOAD_ENV = "SEDNA_KB_MAX_UPLOAD"
DEFAULT_MAX_UPLOAD = 256 * 1024 * 1024
INDEX_NAME = KBResourceConstant.KB_INDEX_NAME.value
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+,@-]{0,254}$")


class StatusBody(BaseModel):
    status: int
    tasks: str = ""


class BadRequest(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def safe_file_name(name: str) -> str:
    """``name`` if it is a plain file name (no directories, no ``..``, no leading dot); else BadRequest."""
    if not name or not _NAME_RE.match(name) or ".." in name:
        raise BadRequest(400, f"file name {name!r} is not allowed: use letters, digits and _.=+,@- only, "
                              "no directories")
    return name


def download_path(name: str) -> str:
    return f"/file/download?files={name}&name={name}"


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """``{field: (filename, content)}`` of a ``multipart/form-data`` body (BadRequest if malformed)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not content_type.lower().startswith("multipart/form-data") or not match:
        raise BadRequest(415, "expected multipart/form-data with a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    fields: dict[str, tuple[str | None, bytes]] = {}
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        raise BadRequest(400, "multipart body has no parts")
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise BadRequest(400, "multipart part without headers")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        disposition = ""
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                disposition = value
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if name:
            fields[name.group(1)] = (filename.group(1) if filename else None, content)
    return fields


class KBStore:
    """The task index DB plus the file directory; every write holds one lock (SQLite has one writer)."""

    def __init__(self, save_dir: str, db_url: str):
        self.save_dir = os.path.realpath(save_dir)
        os.makedirs(self.save_dir, exist_ok=True)
        if db_url.startswith("sqlite:///"):
            db_file = db_url[len("sqlite:///"):]
            if db_file and db_file != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(db_file)), exist_ok=True)
        self.protected: set[str] = set()  # files of the DB that live among the served files
        if db_url.startswith("sqlite:///"):
            db_file = os.path.realpath(db_url[len("sqlite:///"):]) if db_url[len("sqlite:///"):] else ""
            if db_file and os.path.dirname(db_file) == self.save_dir:
                base = os.path.basename(db_file)
                self.protected = {base, f"{base}-journal", f"{base}-wal", f"{base}-shm"}
        self.engine = create_engine(db_url, connect_args={"check_same_thread": False}
                                    if db_url.startswith("sqlite") else {})
        Base.metadata.create_all(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.lock = threading.Lock()

    # ---------------------------------------------------------------- files

    def resolve(self, name: str) -> str:
        """Path of ``name`` inside the save dir; BadRequest if it would lead anywhere else or names the DB."""
        safe_file_name(name)
        if name in self.protected:
            raise BadRequest(400, f"file name {name!r} is the knowledge base's database")
        path = os.path.join(self.save_dir, name)
        real = os.path.realpath(path)
        if os.path.dirname(real) != self.save_dir:
            raise BadRequest(400, f"file name {name!r} resolves outside the knowledge base")
        return path

    def write_file_range(self, name: str, source: str, start: int, end: int) -> str:
        """Store bytes ``[start, end)`` of file ``source`` as ``name`` (copied in 1 MiB chunks)."""
        path = self.resolve(name)
        if os.path.isdir(path):
            raise BadRequest(400, f"file name {name!r} is a directory of the knowledge base")
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=self.save_dir)
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                src.seek(start)
                left = end - start
                while left > 0:
                    chunk = src.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    out.write(chunk)
                    left -= len(chunk)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return path

    def write_file(self, name: str, content: bytes) -> str:
        path = self.resolve(name)
        if os.path.isdir(path):
            raise BadRequest(400, f"file name {name!r} is a directory of the knowledge base")
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=self.save_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return path

    def read_index(self) -> IndexDoc:
        path = self.resolve(INDEX_NAME)
        if not os.path.isfile(path):
            raise BadRequest(404, "the knowledge base has no index yet")
        with open(path, "rb") as fh:
            return loads_index(fh.read())

    # ---------------------------------------------------------------- index

    @staticmethod
    def _get_or_create(session: Session, model: Any, name: str, **defaults: Any) -> Any:
        row = session.scalars(select(model).where(model.name == name)).first()
        if row is None:
            row = model(name=name, **defaults)
            session.add(row)
            session.flush()
        return row

    def update(self, doc: IndexDoc) -> None:
        with self.lock, self.sessions.begin() as session:
            for task_type in (doc.seen_task, doc.unseen_task):
                for group in task_type.task_groups:
                    grp = self._get_or_create(session, TaskGrp, group.entry, deploy=True, sample_num=0, task_num=0)
                    grp.sample_num = (grp.sample_num or 0) + int(group.sample_num or 0)
                    grp.task_num = (grp.task_num or 0) + len(group.tasks)
                    for task in group.tasks:
                        row = self._get_or_create(session, Tasks, task.entry)
                        row.task_attr = json.dumps(task.meta_attr if task.meta_attr is not None else {})
                        sample = Samples(data_url=task.samples or "", descr=task.entry, data_type=0,
                                         sample_num=int(task.sample_num or 0))
                        session.add(sample)
                        session.flush()
                        session.add(TaskSample(sample_id=sample.id, task_id=row.id))
                        relation = session.scalars(select(TaskRelation).where(
                            TaskRelation.grp_id == grp.id, TaskRelation.task_id == row.id)).first()
                        if relation is None:
                            session.add(TaskRelation(grp_id=grp.id, task_id=row.id, transfer_radio=0.0))
                    model_url = group.model.model if group.model is not None and group.model.model else ""
                    if model_url:
                        existing = session.scalars(select(TaskModels).where(
                            TaskModels.task_id == grp.id, TaskModels.model_url == model_url)).first()
                        if existing is None:
                            session.add(TaskModels(task_id=grp.id, model_url=model_url, is_current=False))
                    session.flush()
                    relations = session.scalars(select(TaskRelation).where(TaskRelation.grp_id == grp.id)).all()
                    for relation in relations:
                        relation.transfer_radio = 1.0 / max(grp.task_num or 1, 1)
            self.write_file(INDEX_NAME, dumps_index(doc).encode("utf-8"))

    def update_status(self, names: list[str], status: int) -> None:
        with self.lock:
            doc = self.read_index()
            with self.sessions.begin() as session:
                for name in names:
                    grp = session.scalars(select(TaskGrp).where(TaskGrp.name == name)).first()
                    if grp is not None:
                        grp.deploy = bool(status)
            self.write_file(INDEX_NAME, dumps_index(apply_task_status(doc, names, status)).encode("utf-8"))

    def query(self) -> dict[str, Any]:
        with self.sessions() as session:
            groups = []
            for grp in session.scalars(select(TaskGrp).order_by(TaskGrp.id)).all():
                models = session.scalars(select(TaskModels).where(TaskModels.task_id == grp.id)
                                         .order_by(TaskModels.id)).all()
                groups.append({"name": grp.name, "deploy": bool(grp.deploy), "sample_num": grp.sample_num,
                               "task_num": grp.task_num, "models": [m.model_url for m in models]})
        has_index = os.path.isfile(os.path.join(self.save_dir, INDEX_NAME))
        return {"task_groups": groups, "index": download_path(INDEX_NAME) if has_index else None}


async def _spool_body(request: Request, limit: int, directory: str) -> str:
    """Write the request body to a temp file in ``directory`` (BadRequest 413 over ``limit``); its path."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"body of {declared} bytes exceeds the limit of {limit} bytes")
    fd, path = tempfile.mkstemp(prefix=".spool-", dir=directory)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BadRequest(413, f"body exceeds the limit of {limit} bytes")
                out.write(chunk)
    except BaseException:
        os.remove(path)
        raise
    return path


def locate_part(path: str, content_type: str, field: str) -> tuple[str | None, int, int]:
    """(filename, start, end) of multipart field ``field`` in the body stored at ``path``, found with mmap
    (pages are read from the file on demand, never copied as a whole)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not content_type.lower().startswith("multipart/form-data") or not match:
        raise BadRequest(415, "expected multipart/form-data with a boundary")
    delimiter = b"\r\n--" + match.group(1).encode("latin-1")
    if os.path.getsize(path) == 0:
        raise BadRequest(400, "multipart body has no parts")
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as body:
        first = delimiter[2:]
        if body[:len(first)] == first:
            pos = len(first)
        else:
            found = body.find(delimiter)
            if found < 0:
                raise BadRequest(400, "multipart body has no parts")
            pos = found + len(delimiter)
        while True:
            if body[pos:pos + 2] == b"--":
                break
            if body[pos:pos + 2] == b"\r\n":
                pos += 2
            head_end = body.find(b"\r\n\r\n", pos)
            if head_end < 0 or head_end - pos > 16384:
                raise BadRequest(400, "multipart part without headers")
            head = body[pos:head_end].decode("latin-1")
            start = head_end + 4
            end = body.find(delimiter, start)
            if end < 0:
                raise BadRequest(400, "multipart part without a closing boundary")
            disposition = ""
            for line in head.split("\r\n"):
                key, _, value = line.partition(":")
                if key.strip().lower() == "content-disposition":
                    disposition = value
            name = re.search(r'\bname="([^"]*)"', disposition)
            filename = re.search(r'\bfilename="([^"]*)"', disposition)
            if name and name.group(1) == field:
                return (filename.group(1) if filename else None), start, end
            pos = end + len(delimiter)
    raise BadRequest(400, f"multipart field {field!r} is missing")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def multipart_body(field: str) -> dict:
    """``openapi_extra`` declaring a multipart body with one file ``field``."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": [field],
        "properties": {field: {"type": "string", "format": "binary"}}}}}}}


def create_kb_app(save_dir: str, db_url: str | None = None, token: str | None = None,
                  max_upload_size: int = DEFAULT_MAX_UPLOAD) -> FastAPI:
    """The FastAPI app of one knowledge base storing files in ``save_dir`` and its index in ``db_url``
    (default ``sqlite:///<save_dir>/.kb/lifelong_kb.sqlite3``, out of reach of the file routes)."""
    default_db = os.path.join(os.path.realpath(save_dir), ".kb", "lifelong_kb.sqlite3")  # not a servable name
    store = KBStore(save_dir, db_url or f"sqlite:///{default_db}")
    app = FastAPI(title="sedna knowledge base", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.store = store
    router = APIRouter(prefix="/knowledgebase")

    add_bearer_token(app, token)

    @app.exception_handler(BadRequest)
    async def bad_request(_request: Request, exc: BadRequest):
        return _error(exc.status, exc.reason)

    async def multipart_field(request: Request, field: str) -> tuple[str | None, bytes]:
        body = await _read_body(request, max_upload_size)
        fields = parse_multipart(body, request.headers.get("content-type", ""))
        if field not in fields:
            raise BadRequest(400, f"multipart field {field!r} is missing")
        return fields[field]

    @router.post("/update", openapi_extra=multipart_body("task"))
    async def update(request: Request):
        _, content = await multipart_field(request, "task")
        try:
            doc = loads_index(content)
        except ValidationError as exc:
            return JSONResponse(status_code=422, content={"detail": json.loads(exc.json(include_url=False))})
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(400, f"task index is not a JSON index document: {exc}") from None
        await run_in_threadpool(store.update, doc)
        return download_path(INDEX_NAME)

    @router.post("/update/status")
    async def update_status(body: StatusBody):
        names = [n.strip() for n in body.tasks.split(",") if n.strip()]
        await run_in_threadpool(store.update_status, names, body.status)
        return download_path(INDEX_NAME)

    @router.post("/query")
    async def query():
        return await run_in_threadpool(store.query)

    @router.get("/file/download")
    async def download(files: str, name: str | None = None):
        path = store.resolve(files)
        if not os.path.isfile(path):
            raise BadRequest(404, f"no file {files!r} in the knowledge base")
        return FileResponse(path, filename=safe_file_name(name) if name else files,
                            media_type="application/octet-stream")

    uploads = asyncio.Semaphore(MAX_CONCURRENT_UPLOADS)

    @router.post("/file/upload", openapi_extra=multipart_body("file"))
    async def upload(request: Request):
        """Streamed: the body goes to a temp file in chunks, the file part is copied out of it, so memory
        stays flat whatever the upload size; at most ``MAX_CONCURRENT_UPLOADS`` run at once (others wait)."""
        async with uploads:
            spool = await _spool_body(request, max_upload_size, store.save_dir)
            try:
                filename, start, end = await run_in_threadpool(
                    locate_part, spool, request.headers.get("content-type", ""), "file")
                name = safe_file_name(filename or "")
                if name == INDEX_NAME:
                    raise BadRequest(400, f"{INDEX_NAME} is written through /update only")
                await run_in_threadpool(store.write_file_range, name, spool, start, end)
            finally:
                os.remove(spool)
        return download_path(name)

    app.include_router(router)
    return app


class KBServer(UvicornService):
    """``KBServer(host, http_port=8080, workers=1, save_dir="")``; ``start()`` serves until stopped.

    Our keyword additions: ``db_url`` (default env ``KB_URL``, else ``sqlite:///<save_dir>/.kb/lifelong_kb.sqlite3``),
    ``token`` (default env ``SEDNA_KB_TOKEN``), ``max_upload_size`` (default env ``SEDNA_KB_MAX_UPLOAD`` or
    256 MiB); ``start_background()``/``stop()``/``url`` as the inference server's. ``workers`` is accepted for
    compatibility: one process serves, requests run in its thread pool, writes are serialised.
    """

    service_label = "knowledge base server"
    thread_name = "knowledge-base"

    def __init__(self, host: str, http_port: int = 8080, workers: int = 1, save_dir: str = "", *,
                 db_url: str | None = None, token: str | None = None, max_upload_size: int | None = None):
        self._init_service(host, http_port)
        self.workers = workers
        self.save_dir = save_dir or os.path.join(os.getcwd(), "kb")
        self.db_url = db_url or os.environ.get("KB_URL") or None
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        if max_upload_size is None:
            max_upload_size = int(os.environ.get(MAX_UPLOAD_ENV) or DEFAULT_MAX_UPLOAD)
        self.max_upload_size = int(max_upload_size)
        self.app = create_kb_app(self.save_dir, self.db_url, self.token, self.max_upload_size)
        logger.info("knowledge base files in %s", self.save_dir)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
