from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from typing_extensions import Self

T = TypeVar("T", bound="JobCompletedPayload")


@_attrs_define
class JobCompletedPayload:
    """
    Attributes:
        completion_timestamp (str): RFC 3339 UTC, millisecond precision
        execution_time_seconds (float):
        exit_code (int):
    """

    completion_timestamp: str
    execution_time_seconds: float
    exit_code: int

    def to_dict(self) -> dict[str, Any]:
        completion_timestamp = self.completion_timestamp

        execution_time_seconds = self.execution_time_seconds

        exit_code = self.exit_code

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "completion_timestamp": completion_timestamp,
                "execution_time_seconds": execution_time_seconds,
                "exit_code": exit_code,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        completion_timestamp = d.pop("completion_timestamp")

        execution_time_seconds = d.pop("execution_time_seconds")

        exit_code = d.pop("exit_code")

        job_completed_payload = cls(
            completion_timestamp=completion_timestamp,
            execution_time_seconds=execution_time_seconds,
            exit_code=exit_code,
        )

        return job_completed_payload
