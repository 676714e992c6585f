"""The EventBridge S3 "Object Created" event, as far as filescan reads it.

Modelled here rather than with Powertools' parser models because importing those loads every model
Powertools ships (~50 ms of cold start, measured with bench/cold_start.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class S3Bucket(_Loose):
    """The bucket of the event."""

    name: str = Field(min_length=1)


class S3Object(_Loose):
    """The object of the event. ``key`` is kept exactly as sent (see ``pipeline.enqueue``)."""

    key: str = Field(min_length=1)
    size: int | None = Field(default=None, ge=0)
    etag: str | None = None
    version_id: str | None = Field(default=None, alias="version-id")
    sequencer: str | None = None


class ObjectCreatedDetail(_Loose):
    """The event's ``detail``."""

    bucket: S3Bucket
    object: S3Object


class ObjectCreatedEvent(_Loose):
    """An EventBridge event from S3 with detail-type "Object Created"."""

    source: Literal["aws.s3"]
    detail_type: Literal["Object Created"] = Field(alias="detail-type")
    detail: ObjectCreatedDetail
