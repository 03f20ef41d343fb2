"""The errors of the requester API, as MTurk sends them (``__type`` RequestError or
ServiceFault, with a ``TurkErrorCode``)."""

from __future__ import annotations

from mturk.service.store import now as clock


class TurkError(Exception):
    def __init__(
        self, message: str, code: str, kind: str = "RequestError", status: int = 400
    ) -> None:
        super().__init__(message)
        self.message = f"{message} ({int(clock() * 1000)})"
        self.code = code
        self.kind = kind
        self.status = status
