"""TxtDataParse, CSVDataParse, JSONDataParse and BaseDataSource (sdk.md §9)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from sedna.common.class_factory import ClassFactory, ClassType
from sedna.datasources import (
    BaseDataSource,
    CSVDataParse,
    DataSourceError,
    JSONDataParse,
    TxtDataParse,
    resolve_index_path,
)


@pytest.fixture
def index(tmp_path):
    images = tmp_path / "data" / "images"
    images.mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        (images / name).write_bytes(b"img")
    idx = tmp_path / "data" / "train.txt"
    idx.write_text("images/a.jpg 1\n\n   \nimages/b.jpg 0 extra\nimages/c.jpg\n")
    return idx


def test_txt_train_parse(index):
    ds = TxtDataParse(data_type="train")
    ds.parse(str(index), "/no/such/index.txt", None)
    assert ds.x.tolist() == ["images/a.jpg", "images/b.jpg", "images/c.jpg"]
    assert ds.y.tolist() == ["1", "0", "0"]
    assert ds.num_examples() == 3 and len(ds) == 3 and not ds.is_test_data


def test_txt_test_data_has_no_labels(index):
    ds = TxtDataParse(data_type="test")
    ds.parse(str(index))
    assert ds.is_test_data and len(ds.x) == 3 and ds.y.size == 0


def test_txt_use_raw_and_func(index):
    ds = TxtDataParse(data_type="eval")
    ds.parse(str(index), use_raw=True)
    assert ds.x.shape == (3,) and list(ds.x[1]) == ["images/b.jpg", "0", "extra"]
    assert list(ds.x[0]) == ["images/a.jpg", "1"]
    upper = TxtDataParse(data_type="train", func=lambda line: line.upper().split())
    upper.parse(str(index))
    assert upper.x.tolist()[0] == "IMAGES/A.JPG"


def test_txt_registered_callback(index):
    @ClassFactory.register(ClassType.CALLBACK, alias="sdk_common_test_tokeniser")
    class Tokeniser:
        def __call__(self, line):
            return line.split()[::-1]

    ds = TxtDataParse(data_type="train", func="sdk_common_test_tokeniser")
    ds.parse(str(index))
    assert ds.x.tolist()[:2] == ["1", "extra"]
    with pytest.raises(ValueError):
        TxtDataParse(data_type="train", func="no_such_callback_registered")


def test_txt_resolve_paths_relative_to_index_and_prefix(index, tmp_path):
    prefix = tmp_path / "mnt"
    (prefix / "images").mkdir(parents=True)
    (prefix / "images" / "c.jpg").write_bytes(b"c")
    ds = TxtDataParse(data_type="train")
    ds.parse(str(index), resolve_path=True, data_path_prefix=str(prefix))
    base = index.parent
    assert ds.x.tolist() == [str(base / "images/a.jpg"), str(base / "images/b.jpg"),
                             str(prefix / "images/c.jpg")]


def test_txt_root_rejects_escaping_lines(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    idx = root / "index.txt"
    idx.write_text("ok.jpg 1\n../../etc/passwd 0\n")
    with pytest.raises(DataSourceError, match=r"escapes.*line 2"):
        TxtDataParse("train").parse(str(idx), resolve_path=True, root=str(root))
    idx.write_text("/etc/passwd 0\n")
    with pytest.raises(DataSourceError, match="escapes"):
        TxtDataParse("train").parse(str(idx), resolve_path=True, root=str(root))
    (root / "link").symlink_to("/etc")
    idx.write_text("link/passwd 0\n")
    with pytest.raises(DataSourceError):
        TxtDataParse("train").parse(str(idx), resolve_path=True, root=str(root))


def test_resolve_absolute_remap_under_prefix(tmp_path):
    prefix = tmp_path / "prefix"
    target = prefix / "host" / "data" / "x.jpg"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    idx = tmp_path / "i.txt"
    assert resolve_index_path("/host/data/x.jpg", idx, str(prefix)) == str(target)
    assert resolve_index_path("/host/data/x.jpg", idx, None) == "/host/data/x.jpg"


def test_txt_streams_large_index(tmp_path):
    idx = tmp_path / "big.txt"
    with open(idx, "w") as fh:
        fh.writelines(f"img_{i}.jpg {i % 3}\n" for i in range(50_000))
    ds = TxtDataParse("train")
    ds.parse(str(idx))
    assert ds.num_examples() == 50_000 and ds.y[-1] == str(49_999 % 3)


def test_csv_parse_with_label_usecols_and_records(tmp_path):
    f1 = tmp_path / "a.csv"
    f1.write_text("f1,f2,f3,target\n1,2,3,0\n4,5,6,1\n")
    f2 = tmp_path / "b.csv"
    f2.write_text("f1,f2,f3\n7,8,9\n")  # no label column: skipped
    ds = CSVDataParse(data_type="train")
    ds.parse(str(f1), str(f2), {"f1": 10, "f2": 11, "f3": 12, "target": 1}, label="target", usecols="f1, f3")
    assert list(ds.x.columns) == ["f1", "f3"]
    assert ds.x["f1"].tolist() == [1, 4, 10] and ds.y.tolist() == [0, 1, 1]


def test_csv_func_and_no_label(tmp_path):
    f1 = tmp_path / "a.csv"
    f1.write_text("f1,f2\n1,2\n3,4\n")
    ds = CSVDataParse(data_type="test", func=lambda df: df.assign(s=df.f1 + df.f2))
    ds.parse(str(f1))
    assert ds.x["s"].tolist() == [3, 7] and ds.y is None and ds.num_examples() == 2
    empty = CSVDataParse(data_type="train")
    empty.parse(str(tmp_path / "missing.csv"))
    assert empty.x is None and empty.num_examples() == 0


def _coco(tmp_path):
    ann_dir = tmp_path / "mot" / "annotations"
    ann_dir.mkdir(parents=True)
    gt = tmp_path / "mot" / "train" / "seq1" / "gt"
    gt.mkdir(parents=True)
    (gt / "gt_val_half.txt").write_text("1,1,0,0,1,1\n")
    doc = {
        "images": [{"id": 1, "width": 640, "height": 480, "frame_id": 1, "video_id": 1, "file_name": "f1.jpg"},
                   {"id": 2, "width": 640, "height": 480, "frame_id": 2, "video_id": 1}],
        "categories": [{"id": 7, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [
            {"id": 10, "image_id": 1, "bbox": [1, 2, 10, 20], "area": 200, "category_id": 7, "track_id": 5,
             "iscrowd": 0},
            {"id": 11, "image_id": 1, "bbox": [0, 0, 0, 0], "area": 0, "category_id": 3, "track_id": 6},
            {"id": 12, "image_id": 1, "bbox": [0, 0, 5, 5], "area": 25, "category_id": 3, "track_id": 7,
             "iscrowd": 1},
        ],
    }
    path = ann_dir / "val_half.json"
    path.write_text(json.dumps(doc))
    return path


def test_json_coco_mot(tmp_path):
    path = _coco(tmp_path)
    ds = JSONDataParse(data_type="train")
    ds.parse(str(path))
    assert ds.x["ids"] == [1, 2] and ds.x["class_ids"] == [3, 7]
    boxes, info, name = ds.x["annotations"][0]
    np.testing.assert_array_equal(boxes, [[1, 2, 11, 22, 1, 5]])
    assert info == (480, 640, 1, 1, "f1.jpg") and name == "f1.jpg"
    assert ds.x["annotations"][1][2] == "000000000002.jpg" and ds.x["annotations"][1][0].shape == (0, 6)
    assert [p.name for p in ds.y] == ["gt_val_half.txt"]
    with pytest.raises(DataSourceError):
        JSONDataParse("train").parse(str(tmp_path / "missing.json"))


def test_base_data_source_manual_fill_and_save(tmp_path):
    ds = BaseDataSource(data_type="test")
    assert ds.num_examples() == 0 and ds.is_test_data
    ds.x = [1, 2, 3]
    assert len(ds) == 3
    with pytest.raises(TypeError):
        ds.parse("x")
    out = ds.save(str(tmp_path / "ds.pkl"))
    assert os.path.isfile(out)
    from sedna.common.file_ops import FileOps, FileOpsError

    assert FileOps.load(out).x == [1, 2, 3]
    with pytest.raises(FileOpsError):
        ds.save("s3://bucket/ds.pkl")
