from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from typing_extensions import Self

T = TypeVar("T", bound="JobCancelledPayload")


@_attrs_define
class JobCancelledPayload:
    """
    Attributes:
        cancellation_reason (str):
        cancellation_timestamp (str): RFC 3339 UTC, millisecond precision
        cancelled_by (str):
    """

    cancellation_reason: str
    cancellation_timestamp: str
    cancelled_by: str

    def to_dict(self) -> dict[str, Any]:
        cancellation_reason = self.cancellation_reason

        cancellation_timestamp = self.cancellation_timestamp

        cancelled_by = self.cancelled_by

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "cancellation_reason": cancellation_reason,
                "cancellation_timestamp": cancellation_timestamp,
                "cancelled_by": cancelled_by,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        cancellation_reason = d.pop("cancellation_reason")

        cancellation_timestamp = d.pop("cancellation_timestamp")

        cancelled_by = d.pop("cancelled_by")

        job_cancelled_payload = cls(
            cancellation_reason=cancellation_reason,
            cancellation_timestamp=cancellation_timestamp,
            cancelled_by=cancelled_by,
        )

        return job_cancelled_payload
