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
from ..types import UNSET, Unset

T = TypeVar("T", bound="JobStatusChangedPayload")


@_attrs_define
class JobStatusChangedPayload:
    """
    Attributes:
        current_status (JobStatusChangedPayloadCurrentStatus):
        previous_status (JobStatusChangedPayloadPreviousStatus):
        reason (str):
        changed_by (str | Unset): who held or released the job (absent for a change the backend reported)
        held (bool | Unset): whether the job is held after the change (absent for a change the backend reported)
    """

    current_status: JobStatusChangedPayloadCurrentStatus
    previous_status: JobStatusChangedPayloadPreviousStatus
    reason: str
    changed_by: str | Unset = UNSET
    held: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        current_status = self.current_status.value

        previous_status = self.previous_status.value

        reason = self.reason

        changed_by = self.changed_by

        held = self.held

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "current_status": current_status,
                "previous_status": previous_status,
                "reason": reason,
            }
        )
        if changed_by is not UNSET:
            field_dict["changed_by"] = changed_by
        if held is not UNSET:
            field_dict["held"] = held

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        current_status = JobStatusChangedPayloadCurrentStatus(d.pop("current_status"))

        previous_status = JobStatusChangedPayloadPreviousStatus(
            d.pop("previous_status")
        )

        reason = d.pop("reason")

        changed_by = d.pop("changed_by", UNSET)

        held = d.pop("held", UNSET)

        job_status_changed_payload = cls(
            current_status=current_status,
            previous_status=previous_status,
            reason=reason,
            changed_by=changed_by,
            held=held,
        )

        return job_status_changed_payload
