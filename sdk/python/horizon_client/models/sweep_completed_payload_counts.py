from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from typing_extensions import Self

T = TypeVar("T", bound="SweepCompletedPayloadCounts")


@_attrs_define
class SweepCompletedPayloadCounts:
    """
    Attributes:
        cancelled (int):
        completed (int):
        failed (int):
    """

    cancelled: int
    completed: int
    failed: int

    def to_dict(self) -> dict[str, Any]:
        cancelled = self.cancelled

        completed = self.completed

        failed = self.failed

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "CANCELLED": cancelled,
                "COMPLETED": completed,
                "FAILED": failed,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        cancelled = d.pop("CANCELLED")

        completed = d.pop("COMPLETED")

        failed = d.pop("FAILED")

        sweep_completed_payload_counts = cls(
            cancelled=cancelled,
            completed=completed,
            failed=failed,
        )

        return sweep_completed_payload_counts
