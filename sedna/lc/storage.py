"""Where the LC reads and writes data: host paths under the rootfs mount, or ``s3://bucket/key`` (§13).

Host paths (no scheme) are resolved under ``ROOTFS_MOUNT_DIR``; a path that resolves outside that root
(``..`` segments, symlinks pointing out) is refused. S3 access uses the ``sedna.io/credential`` annotation the
GM adds to pushed objects (keys ``s3-endpoint``, ``s3-usehttps``, ``ACCESS_KEY_ID``, ``SECRET_ACCESS_KEY``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CREDENTIAL_ANNOTATION = "sedna.io/credential"
S3_TIMEOUT_SECONDS = 100


class StorageError(ValueError):
    """A URL the LC cannot use (bad scheme, path outside the root, missing credentials)."""


def is_s3(url: str) -> bool:
    return url.startswith("s3://")


def check_url(url: str, field: str) -> None:
    if not isinstance(url, str) or not url:
        raise StorageError(f"{field} is empty")
    if "://" in url and not is_s3(url):
        raise StorageError(f"{field}={url!r}: only host paths and s3:// URLs are supported")


def split_s3(url: str) -> tuple[str, str]:
    rest = url[len("s3://"):]
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise StorageError(f"{url!r} is not s3://<bucket>/<key>")
    return bucket, key


def url_prefix(url: str) -> str:
    """The URL with its last path element removed (upstream's dataset "URL prefix")."""
    return url.rsplit("/", 1)[0] if "/" in url else ""


@dataclass(frozen=True)
class Credentials:
    endpoint_url: str
    access_key: str
    secret_key: str

    @classmethod
    def from_annotations(cls, obj: dict[str, Any]) -> Credentials | None:
        raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(CREDENTIAL_ANNOTATION)
        if not raw:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            raise StorageError(f"annotation {CREDENTIAL_ANNOTATION} is not JSON") from None
        missing = [k for k in ("s3-endpoint", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY") if not doc.get(k)]
        if missing:
            raise StorageError(f"annotation {CREDENTIAL_ANNOTATION} lacks {', '.join(missing)}")
        scheme = "http" if str(doc.get("s3-usehttps", "1")) == "0" else "https"
        endpoint = str(doc["s3-endpoint"])
        if "://" not in endpoint:
            endpoint = f"{scheme}://{endpoint}"
        return cls(endpoint, str(doc["ACCESS_KEY_ID"]), str(doc["SECRET_ACCESS_KEY"]))


class Storage:
    """File access for one object (its credentials), rooted at the rootfs mount."""

    def __init__(self, rootfs: str, credentials: Credentials | None = None) -> None:
        self.rootfs = os.path.realpath(rootfs)
        self.credentials = credentials
        self._client = None

    def host_path(self, url: str) -> str:
        """Map a host path to the LC's view of it; refuses anything that escapes the root."""
        if is_s3(url) or "://" in url:
            raise StorageError(f"{url!r} is not a host path")
        joined = os.path.realpath(os.path.join(self.rootfs, url.lstrip("/")))
        if joined != self.rootfs and not joined.startswith(self.rootfs.rstrip("/") + "/"):
            raise StorageError(f"path {url!r} resolves outside the root {self.rootfs}")
        return joined

    def s3(self):
        if self._client is None:
            if self.credentials is None:
                raise StorageError(f"s3 URL used without the {CREDENTIAL_ANNOTATION} annotation")
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3", endpoint_url=self.credentials.endpoint_url,
                aws_access_key_id=self.credentials.access_key,
                aws_secret_access_key=self.credentials.secret_key,
                region_name="us-east-1",
                config=Config(connect_timeout=S3_TIMEOUT_SECONDS, read_timeout=S3_TIMEOUT_SECONDS,
                              retries={"max_attempts": 3}))
        return self._client

    def signature(self, url: str) -> tuple:
        """Cheap change detector: (mtime_ns, size) for files, (ETag, size) for S3 objects."""
        if is_s3(url):
            bucket, key = split_s3(url)
            head = self.s3().head_object(Bucket=bucket, Key=key)
            return (head.get("ETag"), head.get("ContentLength"))
        st = os.stat(self.host_path(url))
        return (st.st_mtime_ns, st.st_size)

    def download(self, url: str, dest: str) -> None:
        bucket, key = split_s3(url)
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        self.s3().download_file(bucket, key, dest)

    def upload(self, src: str, url: str) -> None:
        bucket, key = split_s3(url)
        self.s3().upload_file(src, bucket, key)

    def copy(self, src_url: str, dst_url: str) -> None:
        """Copy a model or file between host paths and S3 (gm-lc-protocol §9.4).

        Unlike upstream, a host destination is also resolved under the rootfs mount, so a copy over a host
        deploy model lands on the host and not inside the LC container.
        """
        if is_s3(dst_url):
            if is_s3(src_url):
                sb, sk = split_s3(src_url)
                db, dk = split_s3(dst_url)
                self.s3().copy_object(Bucket=db, Key=dk, CopySource={"Bucket": sb, "Key": sk})
            else:
                self.upload(self.host_path(src_url), dst_url)
            return
        dest = self.host_path(dst_url)
        if is_s3(src_url):
            self.download(src_url, dest)
            return
        src = self.host_path(src_url)
        if os.path.abspath(src) == os.path.abspath(dest):
            return
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        if os.path.isdir(src):
            shutil.copytree(src, dest, dirs_exist_ok=True)
        else:
            tmp = dest + ".sedna-tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
