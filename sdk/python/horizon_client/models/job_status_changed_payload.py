from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from typing_extensions import Self

from ..models.job_status_changed_payload_current_status import (
    JobStatusChangedPayloadCurrentStatus,
)
from ..models.job_status_changed_payload_previous_status import (
    JobStatusChangedPayloadPreviousStatus,
)

T = TypeVar("T", bound="JobStatusChangedPayload")


@_attrs_define
class JobStatusChangedPayload:
    """
    Attributes:
        current_status (JobStatusChangedPayloadCurrentStatus):
        previous_status (JobStatusChangedPayloadPreviousStatus):
        reason (str):
    """

    current_status: JobStatusChangedPayloadCurrentStatus
    previous_status: JobStatusChangedPayloadPreviousStatus
    reason: str

    def to_dict(self) -> dict[str, Any]:
        current_status = self.current_status.value

        previous_status = self.previous_status.value

        reason = self.reason

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "current_status": current_status,
                "previous_status": previous_status,
                "reason": reason,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        current_status = JobStatusChangedPayloadCurrentStatus(d.pop("current_status"))

        previous_status = JobStatusChangedPayloadPreviousStatus(
            d.pop("previous_status")
        )

        reason = d.pop("reason")

        job_status_changed_payload = cls(
            current_status=current_status,
            previous_status=previous_status,
            reason=reason,
        )

        return job_status_changed_payload
