"""Dataset readers for workers (sdk.md §9): ``BaseDataSource``, ``TxtDataParse``, ``CSVDataParse``,
``JSONDataParse``.

A parser is created for one ``data_type`` (``train``, ``eval`` or ``test``) and filled by ``parse(...)``;
the samples are then in ``.x`` (and labels in ``.y`` unless it is test data).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.file_ops import FileOps

__all__ = [
    "BaseDataSource",
    "CSVDataParse",
    "CocoIndex",
    "DataSourceError",
    "JSONDataParse",
    "TxtDataParse",
    "resolve_index_path",
]

logger = logging.getLogger(__name__)


class DataSourceError(ValueError):
    """An index file or a line in it cannot be used (names the file and line)."""


class BaseDataSource:
    """Holder of one split of a dataset.

    ``func`` is a callable, or the name of a class registered under ``ClassType.CALLBACK`` (instantiated),
    applied per line (txt) or per frame (csv). Instances can also be filled by hand (``ds.x = [...]``),
    which is how upstream jobs wrap in-memory inference data.
    """

    def __init__(self, data_type: str = "train", func: Callable | str | None = None):
        self.data_type = data_type
        self.process_func: Callable | None = None
        if callable(func):
            self.process_func = func
        elif func:
            self.process_func = ClassFactory.get_cls(ClassType.CALLBACK, func)()
        self.x: Any = None
        self.y: Any = None
        self.meta_attr: Any = None

    @property
    def is_test_data(self) -> bool:
        return self.data_type == "test"

    def num_examples(self) -> int:
        return 0 if self.x is None else len(self.x)

    def __len__(self) -> int:
        return self.num_examples()

    def parse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} has no file format; set .x/.y directly or use "
                        "TxtDataParse, CSVDataParse or JSONDataParse")

    def save(self, output: str = "") -> str:
        """Persist this data source with ``FileOps.dump`` (joblib: local destinations only)."""
        return FileOps.dump(self, output or None)


def resolve_index_path(token: str, index_file: str | os.PathLike, data_path_prefix: str | None = None,
                       root: str | os.PathLike | None = None) -> str:
    """Where a path written in an index file points.

    Relative paths are taken relative to the index file's directory; if nothing exists there but it does
    under ``data_path_prefix`` (``DATA_PATH_PREFIX``, where the dataset is mounted in the pod), that one is
    used. Absolute paths are kept, or re-rooted under ``data_path_prefix`` when only that copy exists. With
    ``root`` the result must lie inside ``root`` (symlinks resolved) or :class:`DataSourceError` is raised.
    """
    base = os.path.dirname(os.path.abspath(os.fspath(index_file)))
    if os.path.isabs(token):
        candidates = [token]
        if data_path_prefix:
            candidates.append(os.path.join(data_path_prefix, token.lstrip("/")))
    else:
        candidates = [os.path.join(base, token)]
        if data_path_prefix:
            candidates.append(os.path.join(data_path_prefix, token))
    chosen = next((c for c in candidates if os.path.exists(c)), candidates[0])
    chosen = os.path.normpath(chosen)
    if root is not None:
        real_root = os.path.realpath(os.fspath(root))
        real = os.path.realpath(chosen)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise DataSourceError(f"{index_file}: path {token!r} escapes the allowed root {real_root}")
    return chosen


def _iter_lines(path: str) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as fh:  # streamed: index files may be large
        for number, line in enumerate(fh, start=1):
            yield number, line.strip()


def _to_array(items: list[Any]) -> np.ndarray:
    """``np.array(items)``; ragged rows (``use_raw`` lines of different lengths) give a 1-D object array."""
    try:
        return np.array(items)
    except ValueError:
        out = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            out[i] = item
        return out


class TxtDataParse(BaseDataSource):
    """Index files with one sample per line: ``<x> [<label> ...]`` separated by whitespace.

    ``parse(*files, use_raw=False)``: missing files are skipped. With ``func`` each stripped line is replaced
    by ``func(line)``; otherwise by its whitespace-split tokens. Empty results are skipped. ``use_raw`` puts
    the whole token list in ``x``; otherwise ``x`` gets the first token and, unless this is test data, ``y``
    the second (``0`` if absent). ``x``/``y`` become numpy arrays.

    Our additions (off by default, so upstream behaviour is unchanged): ``resolve_path=True`` rewrites the
    first token as a path via :func:`resolve_index_path` (relative to the index file or
    ``DATA_PATH_PREFIX``), and ``root=`` then rejects lines pointing outside that directory.
    """

    def parse(self, *args: Any, **kwargs: Any) -> None:
        use_raw = bool(kwargs.get("use_raw"))
        resolve = bool(kwargs.get("resolve_path"))
        root = kwargs.get("root")
        prefix = kwargs.get("data_path_prefix", os.environ.get("DATA_PATH_PREFIX"))
        x_data: list[Any] = []
        y_data: list[Any] = []
        for index_file in args:
            if not index_file:
                continue
            path = FileOps._local_path(str(index_file))
            if not os.path.isfile(path):
                logger.warning("index file %s does not exist; skipped", index_file)
                continue
            for number, line in _iter_lines(path):
                tokens = self.process_func(line) if self.process_func else line.split()
                if tokens is None or (hasattr(tokens, "__len__") and not len(tokens)):
                    continue
                if resolve and not self.process_func:
                    try:
                        tokens[0] = resolve_index_path(tokens[0], path, prefix, root)
                    except DataSourceError as exc:
                        raise DataSourceError(f"{exc} (line {number})") from None
                if use_raw:
                    x_data.append(tokens)
                    continue
                x_data.append(tokens[0])
                if not self.is_test_data:
                    y_data.append(tokens[1] if len(tokens) > 1 else 0)
        self.x = _to_array(x_data)
        self.y = _to_array(y_data)


class CSVDataParse(BaseDataSource):
    """CSV files (and dict/list records) read into pandas frames.

    ``parse(*files_or_records, label=None, usecols=None, **read_csv_kwargs)``: dicts/lists become one-row
    frames; files are read with ``pandas.read_csv``; ``usecols`` may be a comma-separated string (the label
    column is added to it); ``func(frame)`` is applied if set. With ``label``, frames lacking that column
    are skipped, ``y`` is the column and it is dropped from ``x``. ``x``/``y`` are concatenated frames/series.
    Unlike upstream, pycocotools is not needed and ``y`` is ``None`` when no label is given.
    """

    @staticmethod
    def parse_json(lines: dict | list, **kwargs: Any):
        import pandas as pd

        records = lines if isinstance(lines, list) else [lines]
        frame = pd.DataFrame.from_records(records)
        usecols = kwargs.get("usecols")
        if usecols:
            frame = frame[[c for c in usecols if c in frame.columns]]
        return frame

    def parse(self, *args: Any, **kwargs: Any) -> None:
        import pandas as pd

        label = kwargs.pop("label", None) or ""
        usecols = kwargs.get("usecols") or ""
        if isinstance(usecols, str):
            usecols = [c.strip() for c in usecols.split(",") if c.strip()]
        else:
            usecols = list(usecols)
        if usecols:
            if label and label not in usecols:
                usecols.append(label)
            kwargs["usecols"] = usecols
        else:
            kwargs.pop("usecols", None)
        wanted = set(usecols)
        x_data, y_data = [], []
        for item in args:
            if isinstance(item, (dict, list)):
                frame = self.parse_json(item, **kwargs)
            else:
                if not item:
                    continue
                path = FileOps._local_path(str(item))
                if not os.path.isfile(path):
                    logger.warning("csv file %s does not exist; skipped", item)
                    continue
                read_kwargs = dict(kwargs)
                if usecols:
                    # a callable keeps files that lack the label column readable (they are skipped below)
                    read_kwargs["usecols"] = wanted.__contains__
                frame = pd.read_csv(path, **read_kwargs)
                if usecols:
                    frame = frame[[c for c in usecols if c in frame.columns]]
            if self.process_func:
                frame = self.process_func(frame)
            if label:
                if label not in frame.columns:
                    logger.warning("%s has no label column %r; skipped", item if isinstance(item, str)
                                   else "record", label)
                    continue
                y_data.append(frame[label])
                frame = frame.drop(columns=[label])
            x_data.append(frame)
        if not x_data:
            return
        self.x = pd.concat(x_data)
        self.y = pd.concat(y_data) if y_data else None


class CocoIndex:
    """The subset of ``pycocotools.coco.COCO`` that :class:`JSONDataParse` and tracking jobs use."""

    def __init__(self, annotation_file: str | os.PathLike):
        import json

        with open(annotation_file, encoding="utf-8") as fh:
            self.dataset = json.load(fh)
        if not isinstance(self.dataset, dict):
            raise DataSourceError(f"{annotation_file}: not a COCO annotation object")
        self.imgs = {img["id"]: img for img in self.dataset.get("images", [])}
        self.cats = {cat["id"]: cat for cat in self.dataset.get("categories", [])}
        self.anns = {ann["id"]: ann for ann in self.dataset.get("annotations", [])}
        self.img_to_anns: dict[Any, list[dict]] = {}
        for ann in self.dataset.get("annotations", []):
            self.img_to_anns.setdefault(ann["image_id"], []).append(ann)

    def getImgIds(self) -> list:
        return list(self.imgs)

    def getCatIds(self) -> list:
        return list(self.cats)

    def loadImgs(self, ids: Any) -> list[dict]:
        ids = ids if isinstance(ids, (list, tuple)) else [ids]
        return [self.imgs[i] for i in ids]

    def getAnnIds(self, imgIds: Any = (), iscrowd: bool | None = None) -> list:
        ids = imgIds if isinstance(imgIds, (list, tuple)) else [imgIds]
        anns = [a for i in ids for a in self.img_to_anns.get(i, [])] if ids else list(self.anns.values())
        if iscrowd is not None:
            anns = [a for a in anns if bool(a.get("iscrowd", 0)) == bool(iscrowd)]
        return [a["id"] for a in anns]

    def loadAnns(self, ids: Any) -> list[dict]:
        ids = ids if isinstance(ids, (list, tuple)) else [ids]
        return [self.anns[i] for i in ids]


class JSONDataParse(BaseDataSource):
    """COCO-format multi-object-tracking annotations.

    ``parse(annotation_file)``: ``x`` = ``{"data_dir", "coco", "ids", "class_ids", "annotations"}`` where
    each annotation is ``(boxes, (height, width, frame_id, video_id, file_name), file_name)`` and ``boxes``
    rows are ``[x1, y1, x2, y2, class_index, track_id]``; ``y`` = the ``*/gt/gt_val_half.txt`` files under
    the ``train`` directory next to the annotation file's directory.
    """

    DIRECTORY = "train"
    LABEL_PATH = "*/gt/gt_val_half.txt"

    def __init__(self, data_type: str = "train", func: Callable | str | None = None):
        super().__init__(data_type=data_type, func=func)
        self.data_dir: Path | None = None
        self.coco: CocoIndex | None = None
        self.ids: list = []
        self.class_ids: list = []
        self.annotations: list = []

    def parse(self, *args: Any, **kwargs: Any) -> None:
        if not args:
            raise DataSourceError("JSONDataParse.parse needs the annotation file")
        filepath = Path(FileOps._local_path(str(args[0])))
        if not filepath.is_file():
            raise DataSourceError(f"{filepath}: annotation file does not exist")
        self.data_dir = Path(filepath.resolve().parents[1], self.DIRECTORY)
        self.coco = CocoIndex(filepath)
        self.ids = self.coco.getImgIds()
        self.class_ids = sorted(self.coco.getCatIds())
        self.annotations = [self.load_anno_from_ids(i) for i in self.ids]
        self.x = {"data_dir": self.data_dir, "coco": self.coco, "ids": self.ids,
                  "class_ids": self.class_ids, "annotations": self.annotations}
        self.y = sorted(self.data_dir.glob(self.LABEL_PATH))

    def load_anno_from_ids(self, id_: Any) -> tuple[np.ndarray, tuple, str]:
        image = self.coco.loadImgs(id_)[0]
        objs = []
        for obj in self.coco.loadAnns(self.coco.getAnnIds(imgIds=[id_], iscrowd=False)):
            if obj.get("area", 0) > 0:
                x1, y1, w, h = obj["bbox"]
                objs.append(([x1, y1, x1 + w, y1 + h], obj))
        boxes = np.zeros((len(objs), 6))
        for row, (box, obj) in enumerate(objs):
            boxes[row, 0:4] = box
            boxes[row, 4] = self.class_ids.index(obj["category_id"])
            boxes[row, 5] = obj.get("track_id", -1)
        file_name = image.get("file_name") or f"{id_:012}.jpg"
        info = (image.get("height"), image.get("width"), image.get("frame_id"), image.get("video_id"), file_name)
        return boxes, info, file_name
