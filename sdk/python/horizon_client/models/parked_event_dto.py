from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

if TYPE_CHECKING:
    from ..models.audit_recorded import AuditRecorded
    from ..models.job_cancelled import JobCancelled
    from ..models.job_completed import JobCompleted
    from ..models.job_failed import JobFailed
    from ..models.job_metrics_recorded import JobMetricsRecorded
    from ..models.job_queued import JobQueued
    from ..models.job_retry_scheduled import JobRetryScheduled
    from ..models.job_running import JobRunning
    from ..models.job_status_changed import JobStatusChanged
    from ..models.job_submitted import JobSubmitted
    from ..models.sweep_completed import SweepCompleted
    from ..models.sweep_submitted import SweepSubmitted


T = TypeVar("T", bound="ParkedEventDto")


@_attrs_define
class ParkedEventDto:
    """
    Attributes:
        event (AuditRecorded | JobCancelled | JobCompleted | JobFailed | JobMetricsRecorded | JobQueued |
            JobRetryScheduled | JobRunning | JobStatusChanged | JobSubmitted | SweepCompleted | SweepSubmitted): Any event:
            a job's, a sweep's, or an audit record.
        parked_at (str): RFC 3339
        position (int):
        reason (str):
    """

    event: (
        AuditRecorded
        | JobCancelled
        | JobCompleted
        | JobFailed
        | JobMetricsRecorded
        | JobQueued
        | JobRetryScheduled
        | JobRunning
        | JobStatusChanged
        | JobSubmitted
        | SweepCompleted
        | SweepSubmitted
    )
    parked_at: str
    position: int
    reason: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.job_cancelled import JobCancelled
        from ..models.job_completed import JobCompleted
        from ..models.job_failed import JobFailed
        from ..models.job_metrics_recorded import JobMetricsRecorded
        from ..models.job_queued import JobQueued
        from ..models.job_retry_scheduled import JobRetryScheduled
        from ..models.job_running import JobRunning
        from ..models.job_status_changed import JobStatusChanged
        from ..models.job_submitted import JobSubmitted
        from ..models.sweep_completed import SweepCompleted
        from ..models.sweep_submitted import SweepSubmitted

        event: dict[str, Any]
        if (
            isinstance(self.event, JobSubmitted)
            or isinstance(self.event, JobQueued)
            or isinstance(self.event, JobRunning)
            or isinstance(self.event, JobCompleted)
            or isinstance(self.event, JobFailed)
            or isinstance(self.event, JobCancelled)
            or isinstance(self.event, JobStatusChanged)
            or isinstance(self.event, JobRetryScheduled)
            or isinstance(self.event, JobMetricsRecorded)
            or isinstance(self.event, SweepSubmitted)
            or isinstance(self.event, SweepCompleted)
        ):
            event = self.event.to_dict()
        else:
            event = self.event.to_dict()

        parked_at = self.parked_at

        position = self.position

        reason = self.reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "event": event,
                "parked_at": parked_at,
                "position": position,
                "reason": reason,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.audit_recorded import AuditRecorded
        from ..models.job_cancelled import JobCancelled
        from ..models.job_completed import JobCompleted
        from ..models.job_failed import JobFailed
        from ..models.job_metrics_recorded import JobMetricsRecorded
        from ..models.job_queued import JobQueued
        from ..models.job_retry_scheduled import JobRetryScheduled
        from ..models.job_running import JobRunning
        from ..models.job_status_changed import JobStatusChanged
        from ..models.job_submitted import JobSubmitted
        from ..models.sweep_completed import SweepCompleted
        from ..models.sweep_submitted import SweepSubmitted

        d = dict(src_dict)

        def _parse_event(
            data: object,
        ) -> (
            AuditRecorded
            | JobCancelled
            | JobCompleted
            | JobFailed
            | JobMetricsRecorded
            | JobQueued
            | JobRetryScheduled
            | JobRunning
            | JobStatusChanged
            | JobSubmitted
            | SweepCompleted
            | SweepSubmitted
        ):
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_0 = JobSubmitted.from_dict(data)

                return componentsschemas_event_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_1 = JobQueued.from_dict(data)

                return componentsschemas_event_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_2 = JobRunning.from_dict(data)

                return componentsschemas_event_type_2
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_3 = JobCompleted.from_dict(data)

                return componentsschemas_event_type_3
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_4 = JobFailed.from_dict(data)

                return componentsschemas_event_type_4
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_5 = JobCancelled.from_dict(data)

                return componentsschemas_event_type_5
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_6 = JobStatusChanged.from_dict(data)

                return componentsschemas_event_type_6
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_7 = JobRetryScheduled.from_dict(data)

                return componentsschemas_event_type_7
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_8 = JobMetricsRecorded.from_dict(data)

                return componentsschemas_event_type_8
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_9 = SweepSubmitted.from_dict(data)

                return componentsschemas_event_type_9
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_10 = SweepCompleted.from_dict(data)

                return componentsschemas_event_type_10
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_event_type_11 = AuditRecorded.from_dict(data)

            return componentsschemas_event_type_11

        event = _parse_event(d.pop("event"))

        parked_at = d.pop("parked_at")

        position = d.pop("position")

        reason = d.pop("reason")

        parked_event_dto = cls(
            event=event,
            parked_at=parked_at,
            position=position,
            reason=reason,
        )

        parked_event_dto.additional_properties = d
        return parked_event_dto

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
