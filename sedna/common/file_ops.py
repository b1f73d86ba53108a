"""Moving models and data between local paths, HTTP(S) servers and S3-compatible object stores.

``FileOps`` keeps upstream Sedna's class-method API (``download``, ``upload``, ``dump``, ``load``, path
helpers). Differences, all for safety:

- failures raise :class:`FileOpsError` (an ``OSError``, and a ``RuntimeError`` like upstream's "no objects"
  error) carrying the URL and the reason; a missing source is also a ``FileNotFoundError``;
- archives are extracted only if no member escapes the destination (:class:`UnsafeArchiveError`);
- nothing read from another machine is unpickled: ``dump``/``load`` pick a format from the file extension
  (``.npy``, ``.safetensors``, ``.json``; joblib/pickle only for local files), and
  ``obj_to_pickle_string``/``pickle_string_to_obj`` encode arrays as ``.npy`` and the rest as JSON;
- a directory uploaded to ``s3://bucket/prefix`` lands under ``prefix`` (upstream put it at the bucket root).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np

from sedna.common import tensors

__all__ = ["FileOps", "FileOpsError", "FileOpsNotFoundError", "UnsafeArchiveError"]

logger = logging.getLogger(__name__)

_HTTP_RE = re.compile(r"^https?://(.+)/(.+)")
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_SAFE_DUMP_SUFFIXES = (".npy", ".safetensors", ".json")
_CHUNK = 1 << 20



ROOTFS_ENV = "SEDNA_LOCAL_ROOTFS"


def container_path(path: str) -> str:
    """The host path of an absolute container path, for paths that reach a worker as data (a file the LC
    wrote, such as the hot-update ``model_config.json``) rather than through its env or arguments.

    On a cluster this is ``path`` itself. In single-machine mode there is no mount namespace; the runtime
    gives each container a directory ``$SEDNA_LOCAL_ROOTFS`` in which ``<rootfs>/<mountPath>`` is the
    mounted volume (the same view it rewrites env values and arguments to). A path under such an entry is
    read there; any other path is left alone.
    """
    root = os.environ.get(ROOTFS_ENV)
    if not root or not path.startswith("/") or path.startswith(root.rstrip("/") + "/"):
        return path
    parts = PurePosixPath(path).parts[1:]
    for depth in range(len(parts), 0, -1):
        entry = os.path.join(root, *parts[:depth])
        if os.path.lexists(entry):
            # a mount is a symlink; a plain directory is only a parent of mounts (/home of /home/work)
            return os.path.join(root, *parts) if depth == len(parts) or os.path.islink(entry) else path
    return path

class FileOpsError(OSError, RuntimeError):
    """A transfer failed; ``url`` names what was being read or written and ``reason`` says why."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.url}: {self.reason}"

    def __reduce__(self):
        return (type(self), (self.url, self.reason))


class FileOpsNotFoundError(FileOpsError, FileNotFoundError):
    """The source does not exist (missing path, HTTP 404, no S3 object under the prefix)."""


class UnsafeArchiveError(FileOpsError):
    """An archive member would land outside the extraction directory, or is a link or device."""


class FileOps:
    """File and object-store helpers (all class methods, as upstream)."""

    _GCS_PREFIX = "gs://"
    _S3_PREFIX = "s3://"
    _LOCAL_PREFIX = "file://"
    _USE_PATH_MODE = 0o755

    http_timeout: float = float(os.getenv("SEDNA_HTTP_TIMEOUT", "60"))

    _s3_clients: dict[tuple, Any] = {}
    _s3_lock = threading.Lock()

    # ----------------------------------------------------------------- predicates and paths

    @classmethod
    def is_local(cls, src: Any) -> bool:
        src = str(src)
        return src.startswith(cls._LOCAL_PREFIX) or os.path.exists(container_path(src))

    @classmethod
    def is_remote(cls, src: Any) -> bool:
        src = str(src)
        if src.startswith((cls._GCS_PREFIX, cls._S3_PREFIX)):
            return True
        return bool(_HTTP_RE.match(src))

    @classmethod
    def exists(cls, folder: Any) -> bool:
        folder = cls._local_path(str(folder))
        return os.path.isdir(folder) or os.path.isfile(folder)

    @classmethod
    def join_path(cls, *args: Any) -> str:
        """Join with ``/``; a leading ``/`` and a URL's ``scheme://`` prefix are kept."""
        parts = [str(a) for a in args if a is not None and str(a) != ""]
        if not parts:
            return ""
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        match = _SCHEME_RE.match(first)
        if match:
            prefix, first = match.group(0), first[match.end():]
            joined = "/".join([first.rstrip("/")] + [p.strip("/") for p in parts[1:]])
            return prefix + joined
        tail = [p.lstrip("/\\") for p in parts[1:]]
        return os.path.join(first, *tail)

    @classmethod
    def remove_path_prefix(cls, org_str: str, prefix: str) -> str:
        """``org_str`` without ``prefix``; a trailing separator on ``prefix`` is ignored, so a container path
        ``/home/data/output/m`` with prefix ``/home/data/`` maps back to the host path ``/output/m``."""
        prefix = prefix.rstrip("/\\")
        if prefix and org_str.startswith(prefix):
            return org_str[len(prefix):]
        return org_str

    @classmethod
    def make_dir(cls, *args: Any) -> str:
        path = cls.join_path(*args)
        os.makedirs(path, mode=cls._USE_PATH_MODE, exist_ok=True)
        return path

    @classmethod
    def make_base_dir(cls, *args: Any) -> str:
        """Create the parent directory of the path ``join_path(*args)``; returns that path."""
        path = cls.join_path(*args)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, mode=cls._USE_PATH_MODE, exist_ok=True)
        return path

    @classmethod
    def clean_folder(cls, target: Iterable[Any] | str, clean: bool = True) -> None:
        """Make sure each folder exists; with ``clean`` its previous content is removed first."""
        if isinstance(target, (str, os.PathLike)):
            target = [target]
        for item in target:
            path = os.path.abspath(cls._local_path(str(item)))
            if path in ("/", os.path.expanduser("~")) or len(Path(path).parts) < 2:
                raise FileOpsError(str(item), "refusing to clean a root or home directory")
            if clean and os.path.lexists(path):
                cls.delete(path)
            os.makedirs(path, mode=cls._USE_PATH_MODE, exist_ok=True)

    @classmethod
    def delete(cls, path: Any) -> None:
        """Remove a file, a folder tree, or every object under an ``s3://`` prefix; missing is fine."""
        path = str(path)
        if path.startswith(cls._S3_PREFIX):
            cls._s3_delete(path)
            return
        path = cls._local_path(path)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)

    @classmethod
    def copy_file(cls, src: Any, dst: Any) -> str:
        src, dst = cls._local_path(str(src)), cls._local_path(str(dst))
        if not os.path.isfile(src):
            raise FileOpsNotFoundError(src, "no such file")
        if os.path.isdir(dst):
            dst = os.path.join(dst, os.path.basename(src))
        if os.path.exists(dst) and os.path.samefile(src, dst):
            return dst
        cls.make_base_dir(dst)
        shutil.copy2(src, dst)
        return dst

    @classmethod
    def copy_folder(cls, src: Any, dst: Any) -> str:
        src, dst = cls._local_path(str(src)), cls._local_path(str(dst))
        if not os.path.isdir(src):
            raise FileOpsNotFoundError(src, "no such directory")
        if os.path.exists(dst) and os.path.samefile(src, dst):
            return dst
        shutil.copytree(src, dst, dirs_exist_ok=True)
        return dst

    @classmethod
    def get_file_hash(cls, filename: Any) -> str:
        """MD5 hex digest of a local file (a change detector, not a security check)."""
        digest = hashlib.md5(usedforsecurity=False)
        path = cls._local_path(str(filename))
        try:
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    digest.update(chunk)
        except FileNotFoundError:
            raise FileOpsNotFoundError(path, "no such file") from None
        return digest.hexdigest()

    # ----------------------------------------------------------------- download / upload

    @classmethod
    def download(cls, src: Any, dst: Any = None, unzip: bool = False, untar: bool = False) -> str:
        """Fetch ``src`` (local path, ``file://``, ``http(s)://`` or ``s3://``) to ``dst``; returns ``dst``.

        ``dst`` defaults to a new temporary path keeping the source's base name. ``unzip``/``untar``
        extract a ``.tar.gz``/``.tgz``/``.tar``/``.zip`` result into its own directory.
        """
        src = str(src)
        if dst is None:
            name = os.path.basename(urlparse(src).path.rstrip("/")) if cls.is_remote(src) else \
                os.path.basename(cls._local_path(src).rstrip("/"))
            dst = os.path.join(tempfile.mkdtemp(prefix="sedna-"), name or "download")
        dst = cls._local_path(str(dst))

        if src.startswith(cls._S3_PREFIX):
            dst = cls._s3_download(src, dst)
        elif src.startswith(cls._GCS_PREFIX):
            raise FileOpsError(src, "gs:// is not supported; use s3:// (GCS offers an S3-compatible API)")
        elif src.startswith(("http://", "https://")):
            dst = cls._http_download(src, dst)
        elif cls.is_local(src):
            local = cls._local_path(src)
            if os.path.isdir(local):
                dst = cls.copy_folder(local, dst)
            elif os.path.isfile(local):
                dst = cls.copy_file(local, dst)
            else:
                raise FileOpsNotFoundError(src, "no such file or directory")
        else:
            raise FileOpsNotFoundError(src, "no such file or directory and not a supported URL")

        if (unzip or untar) and os.path.isfile(dst) and dst.lower().endswith(_ARCHIVE_SUFFIXES):
            cls.extract_archive(dst, os.path.dirname(dst) or ".")
        return dst

    @classmethod
    def upload(cls, src: Any, dst: Any, tar: bool = False, clean: bool = True) -> str:
        """Put ``src`` at ``dst`` (``s3://`` or a local path); returns ``dst``.

        A remote ``src`` is downloaded first. ``tar`` packs ``src`` as ``<src>.tar.gz`` first. With
        ``clean`` the local source (and any temporary copy) is deleted afterwards, as upstream does.
        """
        src, dst = str(src), str(dst)
        if not cls.is_local(src):
            src = cls.download(src)
        src = cls._local_path(src)
        if not os.path.exists(src):
            raise FileOpsNotFoundError(src, "no such file or directory")
        if tar:
            packed = f"{src.rstrip(os.sep)}.tar.gz"
            cls._tar(src, packed)
            if clean:
                cls.delete(src)
            src = packed

        if dst.startswith(cls._S3_PREFIX):
            cls._s3_upload(src, dst)
        elif cls.is_remote(dst):
            raise FileOpsError(dst, "uploading is supported to s3:// and local paths only")
        else:
            local_dst = cls._local_path(dst)
            final = cls.copy_folder(src, local_dst) if os.path.isdir(src) else cls.copy_file(src, local_dst)
            if os.path.samefile(src, final):
                return dst
        if clean:
            cls.delete(src)
        return dst

    # ----------------------------------------------------------------- archives

    @classmethod
    def extract_archive(cls, archive: Any, dest: Any) -> str:
        """Extract a tar(.gz) or zip into ``dest`` after checking every member stays inside it."""
        archive, dest = str(archive), str(dest)
        root = os.path.realpath(dest)
        os.makedirs(root, exist_ok=True)
        try:
            if archive.lower().endswith(".zip"):
                with zipfile.ZipFile(archive) as zf:
                    for info in zf.infolist():
                        cls._check_member(archive, root, info.filename)
                        mode = (info.external_attr >> 16) & 0o170000
                        if mode == 0o120000:
                            raise UnsafeArchiveError(archive, f"member {info.filename!r} is a symlink")
                    zf.extractall(root)
            else:
                with tarfile.open(archive, "r:*") as tf:
                    members = tf.getmembers()
                    for member in members:
                        cls._check_member(archive, root, member.name)
                        if member.issym() or member.islnk():
                            cls._check_member(archive, root, os.path.join(os.path.dirname(member.name),
                                                                          member.linkname), member.name)
                        elif not (member.isfile() or member.isdir()):
                            raise UnsafeArchiveError(archive, f"member {member.name!r} is a device or fifo")
                    tf.extractall(root, members=members, filter="data")
        except (tarfile.TarError, zipfile.BadZipFile) as exc:
            raise FileOpsError(archive, f"not a readable archive: {exc}") from None
        except tarfile.FilterError as exc:
            raise UnsafeArchiveError(archive, str(exc)) from None
        return root

    @staticmethod
    def _check_member(archive: str, root: str, name: str, shown: str | None = None) -> None:
        if os.path.isabs(name) or name.startswith(("/", "\\")):
            raise UnsafeArchiveError(archive, f"member {shown or name!r} has an absolute path")
        target = os.path.realpath(os.path.join(root, name))
        if target != root and not target.startswith(root + os.sep):
            raise UnsafeArchiveError(archive, f"member {shown or name!r} escapes the destination")

    @classmethod
    def _tar(cls, src: str, dst: str) -> str:
        with tarfile.open(dst, "w:gz") as tf:
            tf.add(src, arcname=os.path.basename(src.rstrip(os.sep)))
        return dst

    # ----------------------------------------------------------------- dump / load

    @classmethod
    def dump(cls, obj: Any, dst: Any = None) -> str:
        """Serialise ``obj`` and put it at ``dst`` (local or ``s3://``); returns where it went.

        Format by ``dst``'s extension: ``.npy`` (one array), ``.safetensors`` (dict of arrays), ``.json``;
        any other extension → joblib, allowed for local ``dst`` only. Without ``dst`` a temporary file is
        made whose format follows the object (array → npy, dict of arrays → safetensors, JSON-able → json,
        else joblib).
        """
        if dst is None:
            suffix = cls._natural_suffix(obj)
            fd, dst = tempfile.mkstemp(prefix="sedna-dump-", suffix=suffix)
            os.close(fd)
        dst = str(dst)
        remote = cls.is_remote(dst)
        suffix = cls._suffix(dst)
        if remote and suffix not in _SAFE_DUMP_SUFFIXES:
            raise FileOpsError(dst, "refusing to pickle an object bound for another machine; "
                               "use a .npy, .safetensors or .json destination")
        if remote:
            fd, local = tempfile.mkstemp(prefix="sedna-dump-", suffix=suffix)
            os.close(fd)
        else:
            local = cls.make_base_dir(cls._local_path(dst))
        cls._write_object(obj, local, suffix)
        if remote:
            cls.upload(local, dst, clean=True)
        return dst

    @classmethod
    def load(cls, src: Any) -> Any:
        """Read what :meth:`dump` wrote. ``.npy``/``.safetensors``/``.json`` from anywhere; other
        extensions are joblib files and are loaded from local paths only."""
        src = str(src)
        suffix = cls._suffix(src)
        if suffix not in _SAFE_DUMP_SUFFIXES and not cls.is_local(src):
            raise FileOpsError(src, "refusing to unpickle a remote file; only .npy, .safetensors and "
                               ".json are loaded from remote locations")
        local = cls.download(src) if not cls.is_local(src) else cls._local_path(src)
        if not os.path.isfile(local):
            raise FileOpsNotFoundError(src, "no such file")
        try:
            if suffix == ".npy":
                return np.load(local, allow_pickle=False)
            if suffix == ".safetensors":
                arrays, _ = tensors.loads_arrays(Path(local).read_bytes())
                return arrays
            if suffix == ".json":
                return json.loads(Path(local).read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise FileOpsError(src, f"cannot decode {suffix} file: {exc}") from None
        import joblib

        return joblib.load(local)

    @classmethod
    def dump_pickle(cls, obj: Any, filename: Any) -> str:
        """Pickle ``obj`` to a **local** file (pickles never leave the machine)."""
        filename = str(filename)
        if cls.is_remote(filename):
            raise FileOpsError(filename, "pickle files are written to local paths only")
        import pickle

        path = cls.make_base_dir(cls._local_path(filename))
        with open(path, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @classmethod
    def load_pickle(cls, filename: Any) -> Any:
        """Unpickle a **local** file; remote sources are refused (unpickling runs arbitrary code)."""
        filename = str(filename)
        if cls.is_remote(filename):
            raise FileOpsError(filename, "refusing to unpickle a remote file")
        path = cls._local_path(filename)
        if not os.path.isfile(path):
            raise FileOpsNotFoundError(filename, "no such file")
        import pickle

        with open(path, "rb") as fh:
            return pickle.load(fh)

    @classmethod
    def obj_to_pickle_string(cls, obj: Any) -> str:
        """Encode ``obj`` as base64 text **without pickle**: arrays as ``.npy``, anything else as JSON.

        Kept under upstream's name for compatibility; ``pickle_string_to_obj`` reverses it.
        """
        if isinstance(obj, np.ndarray):
            payload = b"NPY:" + tensors.dumps_npy(obj)
        else:
            try:
                payload = b"JSN:" + json.dumps(obj, separators=(",", ":")).encode()
            except TypeError as exc:
                raise TypeError(f"only numpy arrays and JSON-able objects can be encoded: {exc}") from None
        return base64.b64encode(payload).decode("ascii")

    @classmethod
    def pickle_string_to_obj(cls, data: str | bytes) -> Any:
        raw = base64.b64decode(data, validate=True)
        tag, body = raw[:4], raw[4:]
        if tag == b"NPY:":
            return tensors.loads_npy(body)
        if tag == b"JSN:":
            return json.loads(body)
        raise ValueError("not an encoding produced by obj_to_pickle_string")

    # ----------------------------------------------------------------- internals: local

    @classmethod
    def _local_path(cls, path: str) -> str:
        path = unquote(path[len(cls._LOCAL_PREFIX):]) if path.startswith(cls._LOCAL_PREFIX) else path
        return container_path(path)

    @staticmethod
    def _suffix(path: str) -> str:
        return PurePosixPath(urlparse(path).path if "://" in path else path).suffix.lower()

    @staticmethod
    def _natural_suffix(obj: Any) -> str:
        if isinstance(obj, np.ndarray):
            return ".npy"
        if isinstance(obj, Mapping) and obj and all(isinstance(v, np.ndarray) for v in obj.values()) \
                and all(isinstance(k, str) for k in obj):
            return ".safetensors"
        try:
            json.dumps(obj)
            return ".json"
        except (TypeError, ValueError):
            return ".joblib"

    @staticmethod
    def _write_object(obj: Any, path: str, suffix: str) -> None:
        if suffix == ".npy":
            Path(path).write_bytes(tensors.dumps_npy(obj))
        elif suffix == ".safetensors":
            if not isinstance(obj, Mapping):
                raise TypeError(".safetensors holds a dict of name -> array")
            Path(path).write_bytes(tensors.dumps_arrays({str(k): np.asarray(v) for k, v in obj.items()}))
        elif suffix == ".json":
            Path(path).write_text(json.dumps(obj), encoding="utf-8")
        else:
            import joblib

            joblib.dump(obj, path)

    # ----------------------------------------------------------------- internals: http

    @classmethod
    def _http_download(cls, url: str, dst: str) -> str:
        import httpx

        if os.path.isdir(dst):
            name = os.path.basename(urlparse(url).path.rstrip("/")) or "download"
            dst = os.path.join(dst, name)
        cls.make_base_dir(dst)
        fd, partial = tempfile.mkstemp(prefix=".part-", dir=os.path.dirname(os.path.abspath(dst)))
        try:
            with os.fdopen(fd, "wb") as out, httpx.stream(
                    "GET", url, follow_redirects=True, timeout=cls.http_timeout) as resp:
                if resp.status_code == 404:
                    raise FileOpsNotFoundError(url, "HTTP 404 Not Found")
                if resp.status_code >= 400:
                    raise FileOpsError(url, f"HTTP {resp.status_code} {resp.reason_phrase}")
                for chunk in resp.iter_bytes(_CHUNK):
                    out.write(chunk)
            os.replace(partial, dst)
        except httpx.HTTPError as exc:
            raise FileOpsError(url, f"{type(exc).__name__}: {exc}") from None
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        return dst

    # ----------------------------------------------------------------- internals: s3

    @classmethod
    def s3_settings(cls) -> tuple[str, str, str]:
        """``(endpoint_url, access_key_id, secret_access_key)`` from the environment (else BaseConfig)."""
        from sedna.common.config import BaseConfig

        def pick(env: str, attr: str) -> str:
            return os.environ.get(env) or getattr(BaseConfig, attr, "") or ""

        endpoint = pick("S3_ENDPOINT_URL", "s3_endpoint_url") or "http://s3.amazonaws.com"
        if not _SCHEME_RE.match(endpoint):
            endpoint = "https://" + endpoint
        return endpoint, pick("ACCESS_KEY_ID", "access_key_id"), pick("SECRET_ACCESS_KEY", "secret_access_key")

    @classmethod
    def s3_client(cls):
        """A boto3 S3 client for the current settings (one per distinct settings, per process)."""
        settings = cls.s3_settings()
        with cls._s3_lock:
            client = cls._s3_clients.get(settings)
            if client is None:
                import boto3
                from botocore.config import Config

                endpoint, key_id, secret = settings
                client = boto3.client(
                    "s3",
                    endpoint_url=endpoint,
                    aws_access_key_id=key_id or None,
                    aws_secret_access_key=secret or None,
                    use_ssl=endpoint.startswith("https://"),
                    region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                    or "us-east-1",
                    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                  connect_timeout=10, read_timeout=60,
                                  retries={"max_attempts": 3, "mode": "standard"}),
                )
                cls._s3_clients[settings] = client
        return client

    @staticmethod
    def _split_s3(url: str) -> tuple[str, str]:
        rest = url[len("s3://"):]
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise FileOpsError(url, "no bucket in s3 URL")
        return bucket, key

    @classmethod
    def _s3_call(cls, url: str, fn, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            reason = f"S3 {code}: {err.get('Message', '') or exc}"
            if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
                raise FileOpsNotFoundError(url, reason) from None
            raise FileOpsError(url, reason) from None
        except BotoCoreError as exc:
            raise FileOpsError(url, f"S3 unreachable or misconfigured: {exc}") from None

    @classmethod
    def _s3_list(cls, url: str) -> tuple[str, str, list[str]]:
        bucket, prefix = cls._split_s3(url)
        client = cls.s3_client()
        keys: list[str] = []

        def collect():
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                keys.extend(obj["Key"] for obj in page.get("Contents", []))

        cls._s3_call(url, collect)
        base = prefix.rstrip("/")
        if base:
            # "s3://b/model" must not pick up "model2.pkl": keep the object itself and what is below it
            keys = [k for k in keys if k == prefix or k == base or k.startswith(base + "/")]
        return bucket, prefix, keys

    @classmethod
    def _s3_download(cls, url: str, dst: str) -> str:
        bucket, prefix, keys = cls._s3_list(url)
        keys = [k for k in keys if not k.endswith("/")]
        if not keys:
            raise FileOpsNotFoundError(url, "no objects found under this prefix")
        client = cls.s3_client()
        if len(keys) == 1 and keys[0] in (prefix, prefix.rstrip("/")) and not os.path.isdir(dst):
            cls.make_base_dir(dst)
            cls._s3_call(url, client.download_file, bucket, keys[0], dst)
            return dst
        base = prefix.rstrip("/")
        root = os.path.realpath(dst)
        for key in keys:
            rel = key[len(base):].lstrip("/") if base else key
            rel = rel or os.path.basename(key)
            target = os.path.realpath(os.path.join(root, rel))
            if not target.startswith(root + os.sep):
                raise UnsafeArchiveError(url, f"object key {key!r} escapes the destination")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            cls._s3_call(f"s3://{bucket}/{key}", client.download_file, bucket, key, target)
        return dst

    @classmethod
    def _s3_upload(cls, src: str, dst: str) -> None:
        bucket, key = cls._split_s3(dst)
        client = cls.s3_client()
        if os.path.isdir(src):
            base = key.rstrip("/")
            for dirpath, _, files in os.walk(src):
                for name in files:
                    path = os.path.join(dirpath, name)
                    rel = os.path.relpath(path, src).replace(os.sep, "/")
                    obj_key = f"{base}/{rel}" if base else rel
                    cls._s3_call(f"s3://{bucket}/{obj_key}", client.upload_file, path, bucket, obj_key)
            return
        if not key or key.endswith("/"):
            key = f"{key}{os.path.basename(src)}"
        cls._s3_call(dst, client.upload_file, src, bucket, key)

    @classmethod
    def _s3_delete(cls, url: str) -> None:
        bucket, _, keys = cls._s3_list(url)
        client = cls.s3_client()
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start:start + 1000]]
            cls._s3_call(url, client.delete_objects, Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
