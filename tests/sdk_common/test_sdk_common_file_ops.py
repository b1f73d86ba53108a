"""FileOps against a real moto S3 server, a local http.server and the local filesystem (sdk.md §11)."""

from __future__ import annotations

import functools
import io
import os
import socket
import tarfile
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from support_s3 import s3_server_fixture  # noqa: F401 - the s3_server fixture

from sedna.common.file_ops import FileOps, FileOpsError, FileOpsNotFoundError, UnsafeArchiveError

pytestmark = pytest.mark.timeout(60)

BUCKET = "sedna-test"


@pytest.fixture
def s3(s3_server, monkeypatch):
    monkeypatch.setenv("S3_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("SECRET_ACCESS_KEY", "testing")
    client = FileOps.s3_client()
    existing = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
    if BUCKET not in existing:
        client.create_bucket(Bucket=BUCKET)
    yield client
    FileOps.delete(f"s3://{BUCKET}/")


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        return None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- S3


def test_s3_file_upload_download_roundtrip(s3, tmp_path):
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(3000))
    url = f"s3://{BUCKET}/models/v1/model.bin"
    assert FileOps.upload(str(src), url, clean=False) == url
    assert src.exists()  # clean=False keeps the source
    out = FileOps.download(url, str(tmp_path / "got.bin"))
    assert open(out, "rb").read() == src.read_bytes()
    # default destination: temp file with the same base name
    tmp_out = FileOps.download(url)
    assert os.path.basename(tmp_out) == "model.bin" and open(tmp_out, "rb").read() == src.read_bytes()


def test_s3_upload_cleans_source_by_default(s3, tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("x")
    FileOps.upload(str(src), f"s3://{BUCKET}/c/a.txt")
    assert not src.exists()
    assert s3.get_object(Bucket=BUCKET, Key="c/a.txt")["Body"].read() == b"x"


def test_s3_directory_roundtrip_keeps_prefix(s3, tmp_path):
    src = tmp_path / "ckpt"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    FileOps.upload(str(src), f"s3://{BUCKET}/runs/r1", clean=False)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")["Contents"])
    assert keys == ["runs/r1/a.txt", "runs/r1/sub/b.txt"]
    out = tmp_path / "restored"
    FileOps.download(f"s3://{BUCKET}/runs/r1", str(out))
    assert (out / "a.txt").read_text() == "A" and (out / "sub" / "b.txt").read_text() == "B"


def test_s3_prefix_does_not_match_sibling_names(s3, tmp_path):
    s3.put_object(Bucket=BUCKET, Key="m/model", Body=b"1")
    s3.put_object(Bucket=BUCKET, Key="m/model2.pkl", Body=b"2")
    out = FileOps.download(f"s3://{BUCKET}/m/model", str(tmp_path / "model"))
    assert open(out, "rb").read() == b"1"


def test_s3_missing_object_raises_typed_error(s3, tmp_path):
    url = f"s3://{BUCKET}/nothing/here.pkl"
    with pytest.raises(FileOpsNotFoundError) as info:
        FileOps.download(url, str(tmp_path / "x"))
    assert info.value.url == url and url in str(info.value)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, FileNotFoundError)


def test_s3_missing_bucket_raises_typed_error(s3, tmp_path):
    with pytest.raises(FileOpsError, match="no-such-bucket"):
        FileOps.download("s3://no-such-bucket/x", str(tmp_path / "x"))


def test_s3_unreachable_endpoint(monkeypatch, tmp_path):
    monkeypatch.setenv("S3_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("ACCESS_KEY_ID", "k")
    monkeypatch.setenv("SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(FileOpsError, match="s3://b/k"):
        FileOps.download("s3://b/k", str(tmp_path / "x"))


def test_s3_settings_defaults_and_scheme(monkeypatch):
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    from sedna.common.config import BaseConfig

    monkeypatch.setattr(BaseConfig, "s3_endpoint_url", "")
    assert FileOps.s3_settings()[0] == "http://s3.amazonaws.com"
    monkeypatch.setenv("S3_ENDPOINT_URL", "minio.local:9000")
    assert FileOps.s3_settings()[0] == "https://minio.local:9000"


def test_dump_load_remote_safe_formats(s3):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    FileOps.dump(arr, f"s3://{BUCKET}/d/arr.npy")
    np.testing.assert_array_equal(FileOps.load(f"s3://{BUCKET}/d/arr.npy"), arr)
    FileOps.dump({"w": arr, "b": np.ones(2)}, f"s3://{BUCKET}/d/w.safetensors")
    loaded = FileOps.load(f"s3://{BUCKET}/d/w.safetensors")
    np.testing.assert_array_equal(loaded["w"], arr)
    FileOps.dump({"acc": 0.9}, f"s3://{BUCKET}/d/m.json")
    assert FileOps.load(f"s3://{BUCKET}/d/m.json") == {"acc": 0.9}


def test_remote_pickle_refused_both_ways(s3):
    with pytest.raises(FileOpsError, match="pickle"):
        FileOps.dump(object(), f"s3://{BUCKET}/d/x.pkl")
    s3.put_object(Bucket=BUCKET, Key="d/evil.pkl", Body=b"cos\nsystem\n(S'true'\ntR.")
    with pytest.raises(FileOpsError, match="unpickle"):
        FileOps.load(f"s3://{BUCKET}/d/evil.pkl")
    with pytest.raises(FileOpsError):
        FileOps.load_pickle(f"s3://{BUCKET}/d/evil.pkl")


# ---------------------------------------------------------------- HTTP


def test_http_download_success_streams_to_file(http_root, tmp_path):
    root, base = http_root
    data = os.urandom(3 * 1024 * 1024 + 7)
    (root / "big.bin").write_bytes(data)
    out = FileOps.download(f"{base}/big.bin", str(tmp_path / "dl" / "big.bin"))
    assert open(out, "rb").read() == data
    into_dir = FileOps.download(f"{base}/big.bin", str(tmp_path))
    assert into_dir == str(tmp_path / "big.bin")
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".part-")]


def test_http_404_is_typed_error(http_root, tmp_path):
    _, base = http_root
    url = f"{base}/missing.bin"
    with pytest.raises(FileOpsNotFoundError) as info:
        FileOps.download(url, str(tmp_path / "m"))
    assert info.value.url == url and "404" in info.value.reason
    assert not (tmp_path / "m").exists()


def test_http_unreachable_is_typed_error(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/model.pb"
    with pytest.raises(FileOpsError) as info:
        FileOps.download(url, str(tmp_path / "m"))
    assert info.value.url == url and "Connect" in info.value.reason


def test_http_download_untar(http_root, tmp_path):
    root, base = http_root
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("model/weights.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"ok"))
    (root / "model.tar.gz").write_bytes(buf.getvalue())
    out = FileOps.download(f"{base}/model.tar.gz", str(tmp_path / "model.tar.gz"), untar=True)
    assert out.endswith("model.tar.gz")
    assert (tmp_path / "model" / "weights.txt").read_text() == "ok"


# ---------------------------------------------------------------- archives


def _tar_with(path, name, *, linkname=None, kind=tarfile.REGTYPE):
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo(name)
        info.type = kind
        if linkname:
            info.linkname = linkname
            tf.addfile(info)
        else:
            info.size = 3
            tf.addfile(info, io.BytesIO(b"bad"))


@pytest.mark.parametrize("name,linkname,kind", [
    ("../escape.txt", None, tarfile.REGTYPE),
    ("a/../../escape.txt", None, tarfile.REGTYPE),
    ("/abs/escape.txt", None, tarfile.REGTYPE),
    ("link", "../../etc/passwd", tarfile.SYMTYPE),
    ("hard", "../outside", tarfile.LNKTYPE),
    ("dev", None, tarfile.CHRTYPE),
])
def test_tar_traversal_rejected(tmp_path, name, linkname, kind):
    archive = tmp_path / "evil.tar.gz"
    if kind == tarfile.CHRTYPE:
        with tarfile.open(archive, "w:gz") as tf:
            info = tarfile.TarInfo(name)
            info.type = kind
            tf.addfile(info)
    else:
        _tar_with(archive, name, linkname=linkname, kind=kind)
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError) as info:
        FileOps.extract_archive(str(archive), str(dest))
    assert info.value.url == str(archive)
    assert not (tmp_path / "escape.txt").exists()
    assert not dest.exists() or not list(dest.iterdir())


def test_zip_traversal_rejected_and_good_zip_extracts(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape.txt", "x")
    with pytest.raises(UnsafeArchiveError):
        FileOps.extract_archive(str(evil), str(tmp_path / "out"))
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("d/f.txt", "hello")
    FileOps.extract_archive(str(good), str(tmp_path / "out2"))
    assert (tmp_path / "out2" / "d" / "f.txt").read_text() == "hello"


def test_download_untar_local_rejects_traversal(tmp_path):
    archive = tmp_path / "src" / "evil.tar.gz"
    archive.parent.mkdir()
    _tar_with(archive, "../../escape.txt")
    with pytest.raises(UnsafeArchiveError):
        FileOps.download(str(archive), str(tmp_path / "dst" / "evil.tar.gz"), unzip=True)
    assert not (tmp_path / "escape.txt").exists()


def test_upload_tar_local(tmp_path):
    src = tmp_path / "model_dir"
    src.mkdir()
    (src / "w.txt").write_text("w")
    out = FileOps.upload(str(src), str(tmp_path / "store" / "model_dir.tar.gz"), tar=True)
    assert not src.exists()
    FileOps.extract_archive(out, str(tmp_path / "x"))
    assert (tmp_path / "x" / "model_dir" / "w.txt").read_text() == "w"


# ---------------------------------------------------------------- local helpers


def test_local_copy_file_and_folder(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("1")
    assert FileOps.download(f"file://{f}", str(tmp_path / "g.txt")) == str(tmp_path / "g.txt")
    d = tmp_path / "d"
    (d / "e").mkdir(parents=True)
    (d / "e" / "x").write_text("x")
    out = FileOps.download(str(d), str(tmp_path / "d2"))
    assert (tmp_path / "d2" / "e" / "x").read_text() == "x" and out == str(tmp_path / "d2")
    with pytest.raises(FileOpsNotFoundError, match="nope"):
        FileOps.download(str(tmp_path / "nope"), str(tmp_path / "z"))


def test_upload_same_file_is_kept(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("1")
    assert FileOps.upload(str(f), str(f)) == str(f)
    assert f.exists()


def test_upload_to_http_refused(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("1")
    with pytest.raises(FileOpsError, match="s3://"):
        FileOps.upload(str(f), "http://127.0.0.1:1/x/y", clean=False)


def test_predicates_and_join_path(tmp_path):
    assert FileOps.is_remote("s3://b/k") and FileOps.is_remote("gs://b/k")
    assert FileOps.is_remote("https://host/path") and not FileOps.is_remote("https://host")
    assert not FileOps.is_remote(str(tmp_path))
    assert FileOps.is_local(str(tmp_path)) and FileOps.is_local("file:///whatever")
    assert not FileOps.is_local(str(tmp_path / "missing"))
    assert FileOps.exists(str(tmp_path)) and not FileOps.exists(str(tmp_path / "missing"))
    assert FileOps.join_path("/a", "/b", "c") == "/a/b/c"
    assert FileOps.join_path("a", "b") == os.path.join("a", "b")
    assert FileOps.join_path("s3://bucket/p/", "/m.pkl") == "s3://bucket/p/m.pkl"
    assert FileOps.join_path("http://h:1/x", "y") == "http://h:1/x/y"
    assert FileOps.join_path("only") == "only"
    assert FileOps.remove_path_prefix("/data/a/b.txt", "/data/") == "/a/b.txt"
    assert FileOps.remove_path_prefix("/home/data/output/m", "/home/data") == "/output/m"
    assert FileOps.remove_path_prefix("/other/b.txt", "/data") == "/other/b.txt"


def test_clean_folder_delete_hash(tmp_path):
    d = tmp_path / "work"
    d.mkdir()
    (d / "old").write_text("o")
    FileOps.clean_folder([str(d), str(tmp_path / "new")])
    assert d.exists() and not list(d.iterdir()) and (tmp_path / "new").is_dir()
    (d / "keep").write_text("k")
    FileOps.clean_folder([str(d)], clean=False)
    assert (d / "keep").exists()
    with pytest.raises(FileOpsError):
        FileOps.clean_folder(["/"])
    assert FileOps.get_file_hash(str(d / "keep")) == "8ce4b16b22b58894aa86c421e8759df3"
    FileOps.delete(str(d))
    FileOps.delete(str(d))  # missing is fine
    assert not d.exists()
    FileOps.make_dir(str(tmp_path), "m", "n")
    assert (tmp_path / "m" / "n").is_dir()
    assert FileOps.make_base_dir(str(tmp_path / "p" / "q.txt")) == str(tmp_path / "p" / "q.txt")
    assert (tmp_path / "p").is_dir()


def test_dump_load_local_formats(tmp_path):
    arr = np.eye(3)
    path = FileOps.dump(arr)
    assert path.endswith(".npy")
    np.testing.assert_array_equal(FileOps.load(path), arr)
    assert FileOps.dump({"a": [1, 2]}).endswith(".json")
    obj = {"set": {1, 2}}
    joblib_path = FileOps.dump(obj, str(tmp_path / "o.pkl"))
    assert FileOps.load(joblib_path) == obj
    assert FileOps.load(FileOps.dump(obj)) == obj
    p = FileOps.dump_pickle({"x": 1}, str(tmp_path / "p" / "x.pkl"))
    assert FileOps.load_pickle(p) == {"x": 1}
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"junk")
    with pytest.raises(FileOpsError, match="bad.npy"):
        FileOps.load(str(bad))


def test_object_string_encoding_is_not_pickle():
    arr = np.arange(5)
    np.testing.assert_array_equal(FileOps.pickle_string_to_obj(FileOps.obj_to_pickle_string(arr)), arr)
    assert FileOps.pickle_string_to_obj(FileOps.obj_to_pickle_string({"a": [1]})) == {"a": [1]}
    with pytest.raises(TypeError):
        FileOps.obj_to_pickle_string(object())
    import base64
    import pickle

    with pytest.raises(ValueError):
        FileOps.pickle_string_to_obj(base64.b64encode(pickle.dumps({"a": 1})))


def test_upload_remote_source_is_downloaded_first(http_root, s3, tmp_path):
    root, base = http_root
    (root / "w.bin").write_bytes(b"weights")
    FileOps.upload(f"{base}/w.bin", f"s3://{BUCKET}/from-http/w.bin")
    assert s3.get_object(Bucket=BUCKET, Key="from-http/w.bin")["Body"].read() == b"weights"
    assert (root / "w.bin").exists()  # only the temporary local copy is cleaned


def test_parameters_file_fetched_over_http(http_root):
    from sedna.common.config import ParametersError, parse_parameters

    root, base = http_root
    (root / "hp.yaml").write_text("epochs: 5\n")
    (root / "hp.json").write_text('{"lr": 0.1}')
    assert parse_parameters(f"{base}/hp.yaml") == {"epochs": 5}
    assert parse_parameters(f"{base}/hp.json") == {"lr": 0.1}
    with pytest.raises(ParametersError, match="missing.yaml"):
        parse_parameters(f"{base}/missing.yaml")


def test_delete_s3_prefix(s3):
    for key in ("del/a", "del/b/c", "keep/x"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"1")
    FileOps.delete(f"s3://{BUCKET}/del")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == ["keep/x"]
