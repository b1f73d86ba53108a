"""Dataset and Model: the data and model artefacts learning jobs and services refer to (crds.md §1-2)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sedna.api.common import Metric, SednaModel, SednaObject, Time


class DatasetSpec(SednaModel):
    """A sample-index file on one edge node (host path) or in S3; the node's LocalController counts it."""

    url: str = Field(description="Index file: absolute host path on the node, or s3://bucket/key; for format "
                                 "dir, a directory on the node.")
    format: str = Field(description="txt, csv or dir (case-insensitive); a dir dataset counts its files.")
    node_name: str = Field(description="Node whose LocalController monitors this dataset.")
    credential_name: str | None = Field(None, description="Secret with S3 credentials.")


class DatasetStatus(SednaModel):
    number_of_samples: int = Field(description="Sample count reported by the node's LocalController.")
    update_time: Time | None = Field(None, description="When the GM applied the last report.")


class Dataset(SednaObject):
    """A dataset that edge workers learn from."""

    kind_name = "Dataset"
    kind: Literal["Dataset"] = "Dataset"
    spec: DatasetSpec
    status: DatasetStatus | None = None


class ModelSpec(SednaModel):
    url: str = Field(description="Artefact location: host path, s3://... or http(s)://...")
    format: str = Field(description="Free text (pb, ckpt, pkl, ...); trained and deployed models are matched "
                                    "by format.")
    device_soc_versions: list[str] | None = Field(None, alias="device_soc_versions",
                                                     description="Target devices (snake_case on the wire).")
    credential_name: str | None = Field(None, description="Secret with S3 credentials.")


class ModelStatus(SednaModel):
    update_time: Time | None = None
    metrics: list[Metric] | None = None


class Model(SednaObject):
    """A pointer to a model artefact."""

    kind_name = "Model"
    kind: Literal["Model"] = "Model"
    spec: ModelSpec
    status: ModelStatus | None = None
