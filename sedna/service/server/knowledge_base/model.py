"""The knowledge base's task index tables (SQLAlchemy 2.0), named and shaped as upstream's (sdk.md §8.3)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "Samples", "TaskGrp", "TaskModels", "TaskRelation", "TaskSample", "Tasks"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of the knowledge-base tables."""


class TaskGrp(Base):
    __tablename__ = "ll_task_grp"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(512), unique=True, nullable=False)
    deploy: Mapped[bool] = mapped_column(Boolean, default=True)
    sample_num: Mapped[int] = mapped_column(Integer, default=0)
    task_num: Mapped[int] = mapped_column(Integer, default=0)


class Tasks(Base):
    __tablename__ = "ll_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(512), unique=True, nullable=False)
    task_attr: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, onupdate=_now)


class TaskModels(Base):
    __tablename__ = "ll_task_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("ll_task_grp.id"), nullable=False)
    model_url: Mapped[str] = mapped_column(Text, default="")
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)


class TaskRelation(Base):
    __tablename__ = "ll_task_relation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grp_id: Mapped[int] = mapped_column(ForeignKey("ll_task_grp.id"), nullable=False)
    task_id: Mapped[int] = mapped_column(ForeignKey("ll_tasks.id"), nullable=False)
    transfer_radio: Mapped[float] = mapped_column(Float, default=0.0)


class Samples(Base):
    __tablename__ = "ll_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    data_url: Mapped[str] = mapped_column(Text, default="")
    descr: Mapped[str] = mapped_column(Text, default="")
    data_type: Mapped[int] = mapped_column(SmallInteger, default=0)  # 0 train, 1 eval, 2 hard sample
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, onupdate=_now)
    sample_num: Mapped[int] = mapped_column(Integer, default=0)


class TaskSample(Base):
    __tablename__ = "ll_task_sample"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("ll_samples.id"), nullable=False)
    task_id: Mapped[int] = mapped_column(ForeignKey("ll_tasks.id"), nullable=False)
