"""KBServer and KBClient against a real uvicorn server on a free loopback port."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import httpx
import pytest

from sedna.service.client import KBClient
from sedna.service.server import KBServer
from sedna.service.server.knowledge_base.server import parse_multipart

MAX = 64 * 1024


def index_doc(model_url, entries=("a", "b")):
    groups = [{"entry": e, "sample_num": 10 + i, "tasks": [{"entry": e, "meta_attr": [e, "x"], "sample_num": 10 + i,
                                                           "samples": f"/s/{e}"}],
               "model": {"index": i, "entry": e, "model": model_url if i == 0 else f"{model_url}-{e}"}}
              for i, e in enumerate(entries)]
    return {"create_time": "17.5", "seen_task": {"extractor": None, "task_groups": groups},
            "unseen_task": {"extractor": None, "task_groups": []}}


@pytest.fixture
def kb(tmp_path):
    server = KBServer("127.0.0.1", 0, save_dir=str(tmp_path / "kb"), max_upload_size=MAX).start_background()
    yield server
    server.stop()


@pytest.fixture
def client(kb):
    return KBClient(kb.url, retries=1, retry_interval=0)


def write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_upload_then_download_returns_the_same_bytes(kb, client, tmp_path):
    payload = b"\x00\x01--boundary\r\n\r\nbinary\xff" * 50
    url = client.upload_file(write(tmp_path / "m.model", payload), name="r1-m.model")
    assert url == f"{kb.url}/knowledgebase/file/download?files=r1-m.model&name=r1-m.model"
    assert Path(client.download(url, str(tmp_path / "back"))).read_bytes() == payload
    assert (tmp_path / "kb" / "r1-m.model").read_bytes() == payload
    assert client.upload_file("s3://not/a/local/file") == "s3://not/a/local/file"


def test_update_query_and_status(kb, client, tmp_path):
    model_url = client.upload_file(write(tmp_path / "m.model", b"weights"))
    index_file = tmp_path / "index.json"
    index_file.write_text(json.dumps(index_doc(model_url)))
    index_url = client.update_db(str(index_file))
    assert index_url == f"{kb.url}/knowledgebase/file/download?files=index.pkl&name=index.pkl"
    assert not index_file.exists()  # the client deletes what it sent, as upstream
    stored = json.loads(Path(client.download(index_url)).read_bytes())
    assert [g["entry"] for g in stored["seen_task"]["task_groups"]] == ["a", "b"]

    query = client.query()
    assert [(g["name"], g["deploy"], g["sample_num"], g["task_num"]) for g in query["task_groups"]] == \
        [("a", True, 10, 1), ("b", True, 11, 1)]
    assert query["task_groups"][0]["models"] == [model_url]

    with sqlite3.connect(tmp_path / "kb" / ".kb" / "lifelong_kb.sqlite3") as db:
        assert db.execute("select count(*) from ll_tasks").fetchone()[0] == 2
        assert db.execute("select task_attr from ll_tasks where name='a'").fetchone()[0] == '["a", "x"]'
        assert db.execute("select count(*) from ll_task_sample").fetchone()[0] == 2
        assert {r[0] for r in db.execute("select transfer_radio from ll_task_relation")} == {1.0}

    assert client.update_task_status("b", 0) == index_url
    stored = json.loads(Path(client.download(index_url)).read_bytes())
    groups = stored["seen_task"]["task_groups"]
    assert [g["deploy"] for g in groups] == [True, False]
    assert groups[1]["model"]["model"] == model_url  # served by the first deployable group's model
    assert [(g["name"], g["deploy"]) for g in client.query()["task_groups"]] == [("a", True), ("b", False)]

    # a second round adds counts to existing groups and a new group
    index_file.write_text(json.dumps(index_doc(model_url, entries=("a", "c"))))
    client.update_db(str(index_file))
    query = client.query()
    assert [(g["name"], g["task_num"]) for g in query["task_groups"]] == [("a", 2), ("b", 1), ("c", 1)]
    with sqlite3.connect(tmp_path / "kb" / ".kb" / "lifelong_kb.sqlite3") as db:
        radios = db.execute("select r.transfer_radio from ll_task_relation r join ll_task_grp g on g.id=r.grp_id "
                            "where g.name='a'").fetchall()
        assert radios == [(0.5,)]


@pytest.mark.parametrize("files", ["../x", "..%2Fx", "%2E%2E%2Fetc%2Fpasswd", "/etc/passwd", "a/b", ".hidden",
                                   "..", "a\\b"])
def test_download_traversal_attempts_are_rejected(kb, tmp_path, files):
    (tmp_path / "x").write_text("secret")
    resp = httpx.get(f"{kb.url}/knowledgebase/file/download?files={files}&name=x")
    assert resp.status_code == 400, resp.text
    assert "secret" not in resp.text


def test_download_of_symlink_leading_outside_is_rejected(kb, tmp_path):
    (tmp_path / "outside").write_text("secret")
    os.symlink(tmp_path / "outside", tmp_path / "kb" / "link")
    resp = httpx.get(f"{kb.url}/knowledgebase/file/download?files=link&name=link")
    assert resp.status_code == 400 and "secret" not in resp.text


def test_download_of_missing_file_is_404(kb):
    assert httpx.get(f"{kb.url}/knowledgebase/file/download?files=nope.model&name=nope.model").status_code == 404


@pytest.mark.parametrize("filename", ["../evil.model", "/tmp/evil.model", "sub/evil.model", ".env", "..", ""])
def test_upload_traversal_attempts_are_rejected(kb, tmp_path, filename):
    resp = httpx.post(f"{kb.url}/knowledgebase/file/upload", files={"file": (filename, b"x")})
    assert resp.status_code in (400, 422), resp.text
    assert not (tmp_path / "evil.model").exists() and not os.path.exists("/tmp/evil.model")


def test_oversize_upload_is_413_and_nothing_is_written(kb, tmp_path):
    resp = httpx.post(f"{kb.url}/knowledgebase/file/upload", files={"file": ("big.model", b"x" * (MAX + 1))})
    assert resp.status_code == 413
    assert not (tmp_path / "kb" / "big.model").exists()

    def chunks():  # no content-length: the limit holds while streaming
        for _ in range(MAX // 1024 + 2):
            yield b"y" * 1024

    resp = httpx.post(f"{kb.url}/knowledgebase/update", content=chunks(),
                      headers={"content-type": "multipart/form-data; boundary=zz"})
    assert resp.status_code == 413


def test_bad_bodies_get_reasons(kb):
    base = f"{kb.url}/knowledgebase"
    assert httpx.post(f"{base}/update", content=b"{}", headers={"content-type": "application/json"}).status_code == 415
    resp = httpx.post(f"{base}/update", files={"other": ("i.json", b"{}")})
    assert resp.status_code == 400 and "task" in resp.json()["detail"]
    import pickle

    resp = httpx.post(f"{base}/update", files={"task": ("index.pkl", pickle.dumps({"seen_task": {}}))})
    assert resp.status_code == 400  # a pickle is never loaded
    resp = httpx.post(f"{base}/update", files={"task": ("i.json", b'{"seen_task": {"task_groups": [{"x": 1}]}}')})
    assert resp.status_code == 422 and "entry" in resp.text
    assert httpx.post(f"{base}/update/status", json={"tasks": "a"}).status_code == 422
    assert httpx.post(f"{base}/update/status", json={"tasks": "a", "status": 0}).status_code == 404  # no index yet


def test_token_guards_every_route(tmp_path):
    server = KBServer("127.0.0.1", 0, save_dir=str(tmp_path / "kb"), token="s3cret").start_background()
    try:
        assert httpx.post(f"{server.url}/knowledgebase/query").status_code == 401
        assert httpx.get(f"{server.url}/knowledgebase/file/download?files=index.pkl&name=x",
                         headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert KBClient(server.url, token="wrong", retries=1).query() is None
        good = KBClient(server.url, token="s3cret", retries=1)
        url = good.upload_file(write(tmp_path / "m.model", b"w"))
        assert Path(good.download(url)).read_bytes() == b"w"
        with pytest.raises(RuntimeError):
            KBClient(server.url, token="", retries=1).download(url)
    finally:
        server.stop()


def test_client_answers_none_or_raises_when_the_kb_is_down(tmp_path):
    client = KBClient("http://127.0.0.1:9", retries=1, retry_interval=0, timeout=2)
    assert client.update_task_status("a", 0) is None
    assert client.query() is None
    with pytest.raises(RuntimeError):
        client.upload_file(write(tmp_path / "m", b"x"))


@pytest.mark.parametrize("body,content_type,fields", [
    (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.m"\r\n\r\nAB\r\n--b--\r\n',
     "multipart/form-data; boundary=b", {"file": ("a.m", b"AB")}),
    (b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n\r\n\r\n--b--\r\n',
     'multipart/form-data; boundary="b"', {"x": (None, b"\r\n")}),
])
def test_parse_multipart(body, content_type, fields):
    assert parse_multipart(body, content_type) == fields


def test_module_entry_point_parses_upstream_env():
    from sedna.service.server.knowledge_base.__main__ import address_from_env

    assert address_from_env("http://10.0.0.5:9020") == ("10.0.0.5", 9020)
    assert address_from_env("kb.sedna:9020") == ("0.0.0.0", 9020)
    assert address_from_env(None) == ("0.0.0.0", 9020)


def test_concurrent_publications_are_all_recorded(kb, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    def publish(i):
        client = KBClient(kb.url, retries=1)
        model = client.upload_file(write(tmp_path / f"m{i}.model", f"w{i}".encode()), name=f"r{i}-m.model")
        index_file = tmp_path / f"index{i}.json"
        index_file.write_text(json.dumps(index_doc(model, entries=(f"t{i}", "shared"))))
        return client.update_db(str(index_file))

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(publish, range(16)))
    assert all(answers)
    groups = {g["name"]: g for g in KBClient(kb.url).query()["task_groups"]}
    assert len(groups) == 17
    assert groups["shared"]["task_num"] == 16 and groups["shared"]["sample_num"] == 16 * 11
    assert len(groups["shared"]["models"]) == 16
    for i in range(16):
        assert Path(tmp_path / "kb" / f"r{i}-m.model").read_bytes() == f"w{i}".encode()


def test_reserved_names_cannot_be_overwritten_or_read(tmp_path):
    save = tmp_path / "kb"
    server = KBServer("127.0.0.1", 0, save_dir=str(save), db_url=f"sqlite:///{save / 'kb.sqlite3'}").start_background()
    try:
        base = f"{server.url}/knowledgebase"
        resp = httpx.post(f"{base}/file/upload", files={"file": ("index.pkl", b'{"seen_task": {}}')})
        assert resp.status_code == 400 and "/update" in resp.json()["detail"]
        for name in ("kb.sqlite3", "kb.sqlite3-journal"):
            assert httpx.get(f"{base}/file/download?files={name}&name={name}").status_code == 400
            assert httpx.post(f"{base}/file/upload", files={"file": (name, b"junk")}).status_code == 400
        (save / "folder").mkdir()
        assert httpx.post(f"{base}/file/upload", files={"file": ("folder", b"x")}).status_code == 400
        with sqlite3.connect(save / "kb.sqlite3") as db:  # still a database
            assert db.execute("select count(*) from ll_task_grp").fetchone()[0] == 0
    finally:
        server.stop()


def test_default_database_is_out_of_reach(kb, tmp_path):
    assert (tmp_path / "kb" / ".kb" / "lifelong_kb.sqlite3").is_file()
    resp = httpx.get(f"{kb.url}/knowledgebase/file/download?files=.kb&name=x")
    assert resp.status_code == 400
