"""Kubernetes-shaped errors: every failure leaves the server as a ``Status`` object with reason and code."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def _details(rd, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": rd.plural}
    if rd.group:
        details["group"] = rd.group
    if name:
        details["name"] = name
    return details


def not_found(rd, name: str) -> APIError:
    return APIError(404, "NotFound", f'{rd.group_resource()} "{name}" not found', _details(rd, name))


def already_exists(rd, name: str) -> APIError:
    return APIError(409, "AlreadyExists", f'{rd.group_resource()} "{name}" already exists', _details(rd, name))


def conflict(rd, name: str, why: str = "the object has been modified; please apply your changes to the "
                                        "latest version and try again") -> APIError:
    return APIError(409, "Conflict", f'Operation cannot be fulfilled on {rd.group_resource()} "{name}": {why}',
                    _details(rd, name))


def invalid(rd, name: str, causes: list[dict[str, str]]) -> APIError:
    kind = f"{rd.kind}.{rd.group}" if rd.group else rd.kind
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = {"name": name, "kind": rd.kind, "causes": causes}
    if rd.group:
        details["group"] = rd.group
    return APIError(422, "Invalid", f'{kind} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource"):
    return APIError(405, "MethodNotAllowed", message)


def gone(message: str) -> APIError:
    return APIError(410, "Expired", message)
