from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

T = TypeVar("T", bound="StatusCountsDto")


@_attrs_define
class StatusCountsDto:
    """Jobs by status.

    Attributes:
        cancelled (int):
        completed (int):
        failed (int):
        queued (int):
        running (int):
        submitted (int):
    """

    cancelled: int
    completed: int
    failed: int
    queued: int
    running: int
    submitted: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cancelled = self.cancelled

        completed = self.completed

        failed = self.failed

        queued = self.queued

        running = self.running

        submitted = self.submitted

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "CANCELLED": cancelled,
                "COMPLETED": completed,
                "FAILED": failed,
                "QUEUED": queued,
                "RUNNING": running,
                "SUBMITTED": submitted,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        cancelled = d.pop("CANCELLED")

        completed = d.pop("COMPLETED")

        failed = d.pop("FAILED")

        queued = d.pop("QUEUED")

        running = d.pop("RUNNING")

        submitted = d.pop("SUBMITTED")

        status_counts_dto = cls(
            cancelled=cancelled,
            completed=completed,
            failed=failed,
            queued=queued,
            running=running,
            submitted=submitted,
        )

        status_counts_dto.additional_properties = d
        return status_counts_dto

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
