"""Wire types shared by the GM, the LC and worker reporting: one envelope for the GM<->LC channel.

Upstream frames are JSON text: ``{"header": {...}, "content": "<base64 of JSON>"}``. We keep that shape so
the two sides stay interoperable with upstream binaries, and add an optional ``messageId`` in the header that
the GM uses to drop duplicates re-sent from the LC's durable outbox (upstream Go decoders ignore unknown keys).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sedna.common import jsonbounds

Operation = Literal["insert", "update", "delete", "status", "ack", "error", ""]
"""``insert``/``update``/``delete`` flow GM->LC and ``status`` LC->GM as upstream. Our additions: the GM answers
every ``status`` frame that carries a ``messageId`` with ``ack`` (same id) so the LC can drop it from its outbox,
and either side answers a frame it cannot understand with ``error`` (content ``{"reason": ...}``)."""

MAX_FRAME_BYTES = 8 * 1024 * 1024


class MessageHeader(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    namespace: str = ""
    resource_kind: str = Field("", alias="resourceKind")
    resource_name: str = Field("", alias="resourceName")
    operation: Operation = ""
    message_id: str | None = Field(None, alias="messageId")

    @property
    def key(self) -> str:
        """Identity of the object a message is about: ``kind/namespace/name`` (kind lower-cased)."""
        return f"{self.resource_kind.lower()}/{self.namespace}/{self.resource_name}"


class Message(BaseModel):
    """One frame on the GM<->LC websocket. ``content`` is the decoded JSON document."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    header: MessageHeader = Field(default_factory=MessageHeader)
    content: Any = None

    @classmethod
    def build(cls, kind: str, namespace: str, name: str, operation: Operation, content: Any,
              message_id: str | None = None) -> "Message":
        header = MessageHeader(namespace=namespace, resourceKind=kind, resourceName=name,
                               operation=operation, messageId=message_id)
        return cls(header=header, content=content)

    def with_new_id(self) -> "Message":
        return self.model_copy(update={"header": self.header.model_copy(
            update={"message_id": uuid.uuid4().hex})})

    def encode(self) -> str:
        """Serialise as upstream does: content is base64 of its JSON text."""
        raw = b"" if self.content is None else json.dumps(self.content, separators=(",", ":")).encode()
        return json.dumps({
            "header": self.header.model_dump(by_alias=True, exclude_none=True),
            "content": base64.b64encode(raw).decode("ascii"),
        }, separators=(",", ":"))

    @classmethod
    def decode(cls, frame: str | bytes) -> "Message":
        """Parse one frame; raises ``MessageError`` with a reason on anything malformed.

        Accepts upstream's bare hello frame (a header object with no ``header`` key) as an empty message.
        """
        if isinstance(frame, bytes):
            if len(frame) > MAX_FRAME_BYTES:
                raise MessageError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")
            try:
                frame = frame.decode("utf-8", errors="strict")
            except UnicodeDecodeError as exc:
                raise MessageError(f"binary frame is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
        if len(frame) > MAX_FRAME_BYTES:
            raise MessageError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")
        try:
            doc = jsonbounds.loads(frame)
        except ValueError as exc:
            raise MessageError(f"frame is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise MessageError("frame is not a JSON object")
        if "header" not in doc:
            try:
                return cls(header=MessageHeader.model_validate(doc))
            except ValueError as exc:
                raise MessageError(f"invalid hello frame: {exc}") from None
        try:
            header = MessageHeader.model_validate(doc["header"] or {})
        except ValueError as exc:
            raise MessageError(f"invalid header: {exc}") from None
        content = doc.get("content")
        decoded: Any = None
        if isinstance(content, str) and content:
            try:
                decoded = jsonbounds.loads(base64.b64decode(content, validate=True))
            except ValueError as exc:
                raise MessageError(f"content is not base64 JSON: {exc}", header) from None
        elif content not in (None, ""):
            raise MessageError("content must be a base64 string", header)
        return cls(header=header, content=decoded)


class MessageError(ValueError):
    """A frame that cannot be understood; the receiver answers with an error frame and keeps the link.
    ``header``: the frame's header when only its content was unreadable (the answer then carries its
    ``messageId``, so the sender's outbox can drop it instead of re-sending it)."""

    def __init__(self, reason: str, header: MessageHeader | None = None) -> None:
        super().__init__(reason)
        self.header = header


class WorkerMessage(BaseModel):
    """Body of ``POST /sedna/workers/{name}/info`` from a worker to its node's LC."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: str
    namespace: str = ""
    owner_name: str = Field("", alias="ownerName")
    owner_kind: str = Field("", alias="ownerKind")
    owner_info: dict[str, Any] | None = Field(None, alias="ownerInfo")
    kind: str = ""
    status: str = ""
    results: list[dict[str, Any]] | None = None


class UpstreamInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    models: list[dict[str, Any]] | None = None
    data_url: str | None = Field(None, alias="dataURL")
    data_index_url: str | None = Field(None, alias="dataIndexURL")
    output_dir: str | None = Field(None, alias="outputDir")


class UpstreamOutput(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    models: list[dict[str, Any]] | None = None
    owner_info: dict[str, Any] | None = Field(None, alias="ownerInfo")


class UpstreamMessage(BaseModel):
    """Content of an LC->GM ``status`` message for job and service kinds."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    phase: str = ""
    status: str = ""
    input: UpstreamInput | None = None
    output: UpstreamOutput | None = None

    def to_content(self) -> dict[str, Any]:
        doc = self.model_dump(by_alias=True, exclude_none=True)
        doc.setdefault("output", None)
        return doc
