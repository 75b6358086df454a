from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from typing_extensions import Self

from ..models.job_queued_payload_backend import JobQueuedPayloadBackend

T = TypeVar("T", bound="JobQueuedPayload")


@_attrs_define
class JobQueuedPayload:
    """
    Attributes:
        backend (JobQueuedPayloadBackend):
        queued_timestamp (str): RFC 3339 UTC, millisecond precision
        remote_job_id (None | str):
    """

    backend: JobQueuedPayloadBackend
    queued_timestamp: str
    remote_job_id: None | str

    def to_dict(self) -> dict[str, Any]:
        backend = self.backend.value

        queued_timestamp = self.queued_timestamp

        remote_job_id: None | str
        remote_job_id = self.remote_job_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "backend": backend,
                "queued_timestamp": queued_timestamp,
                "remote_job_id": remote_job_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        backend = JobQueuedPayloadBackend(d.pop("backend"))

        queued_timestamp = d.pop("queued_timestamp")

        def _parse_remote_job_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        remote_job_id = _parse_remote_job_id(d.pop("remote_job_id"))

        job_queued_payload = cls(
            backend=backend,
            queued_timestamp=queued_timestamp,
            remote_job_id=remote_job_id,
        )

        return job_queued_payload
