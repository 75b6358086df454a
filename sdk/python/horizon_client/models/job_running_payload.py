from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from typing_extensions import Self

T = TypeVar("T", bound="JobRunningPayload")


@_attrs_define
class JobRunningPayload:
    """
    Attributes:
        remote_job_id (None | str):
        started_timestamp (str): RFC 3339 UTC, millisecond precision
    """

    remote_job_id: None | str
    started_timestamp: str

    def to_dict(self) -> dict[str, Any]:
        remote_job_id: None | str
        remote_job_id = self.remote_job_id

        started_timestamp = self.started_timestamp

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "remote_job_id": remote_job_id,
                "started_timestamp": started_timestamp,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_remote_job_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        remote_job_id = _parse_remote_job_id(d.pop("remote_job_id"))

        started_timestamp = d.pop("started_timestamp")

        job_running_payload = cls(
            remote_job_id=remote_job_id,
            started_timestamp=started_timestamp,
        )

        return job_running_payload
