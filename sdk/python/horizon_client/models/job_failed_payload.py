from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="JobFailedPayload")


@_attrs_define
class JobFailedPayload:
    """
    Attributes:
        error_code (str):
        error_message (str):
        failure_timestamp (str): RFC 3339 UTC, millisecond precision
        exit_code (int | Unset):
    """

    error_code: str
    error_message: str
    failure_timestamp: str
    exit_code: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        error_code = self.error_code

        error_message = self.error_message

        failure_timestamp = self.failure_timestamp

        exit_code = self.exit_code

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "error_code": error_code,
                "error_message": error_message,
                "failure_timestamp": failure_timestamp,
            }
        )
        if exit_code is not UNSET:
            field_dict["exit_code"] = exit_code

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        error_code = d.pop("error_code")

        error_message = d.pop("error_message")

        failure_timestamp = d.pop("failure_timestamp")

        exit_code = d.pop("exit_code", UNSET)

        job_failed_payload = cls(
            error_code=error_code,
            error_message=error_message,
            failure_timestamp=failure_timestamp,
            exit_code=exit_code,
        )

        return job_failed_payload
