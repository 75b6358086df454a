from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from typing_extensions import Self

if TYPE_CHECKING:
    from ..models.sweep_completed_payload_counts import SweepCompletedPayloadCounts


T = TypeVar("T", bound="SweepCompletedPayload")


@_attrs_define
class SweepCompletedPayload:
    """
    Attributes:
        completion_timestamp (str):
        counts (SweepCompletedPayloadCounts):
    """

    completion_timestamp: str
    counts: SweepCompletedPayloadCounts

    def to_dict(self) -> dict[str, Any]:
        completion_timestamp = self.completion_timestamp

        counts = self.counts.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "completion_timestamp": completion_timestamp,
                "counts": counts,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.sweep_completed_payload_counts import SweepCompletedPayloadCounts

        d = dict(src_dict)
        completion_timestamp = d.pop("completion_timestamp")

        counts = SweepCompletedPayloadCounts.from_dict(d.pop("counts"))

        sweep_completed_payload = cls(
            completion_timestamp=completion_timestamp,
            counts=counts,
        )

        return sweep_completed_payload
