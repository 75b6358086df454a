from __future__ import annotations

from collections.abc import Mapping
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    TypeVar,
    cast,
)

from attrs import define as _attrs_define
from typing_extensions import Self

from ..models.job_metrics_recorded_status import JobMetricsRecordedStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.job_metrics_recorded_payload import JobMetricsRecordedPayload


T = TypeVar("T", bound="JobMetricsRecorded")


@_attrs_define
class JobMetricsRecorded:
    """A resource sample of a running job (its own sequence; travels on the metrics topic). Schema version 1 of the Horizon
    event envelope.

        Attributes:
            correlation_id (str):
            event_id (str): UUID v7; also the ce_id header
            event_type (Literal['job.metrics_recorded']):
            job_id (str):
            payload (JobMetricsRecordedPayload):
            schema_version (Literal[1]):
            sequence (int): per job and stream, from 1, no gaps
            status (JobMetricsRecordedStatus):
            timestamp (str): RFC 3339 UTC, millisecond precision
            user_id (str):
            attempt (int | Unset): which attempt of the job the event belongs to (from 1; later ones after retries); absent
                on events written before attempts were recorded
    """

    correlation_id: str
    event_id: str
    event_type: Literal["job.metrics_recorded"]
    job_id: str
    payload: JobMetricsRecordedPayload
    schema_version: Literal[1]
    sequence: int
    status: JobMetricsRecordedStatus
    timestamp: str
    user_id: str
    attempt: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        correlation_id = self.correlation_id

        event_id = self.event_id

        event_type = self.event_type

        job_id = self.job_id

        payload = self.payload.to_dict()

        schema_version = self.schema_version

        sequence = self.sequence

        status = self.status.value

        timestamp = self.timestamp

        user_id = self.user_id

        attempt = self.attempt

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "correlation_id": correlation_id,
                "event_id": event_id,
                "event_type": event_type,
                "job_id": job_id,
                "payload": payload,
                "schema_version": schema_version,
                "sequence": sequence,
                "status": status,
                "timestamp": timestamp,
                "user_id": user_id,
            }
        )
        if attempt is not UNSET:
            field_dict["attempt"] = attempt

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.job_metrics_recorded_payload import JobMetricsRecordedPayload

        d = dict(src_dict)
        correlation_id = d.pop("correlation_id")

        event_id = d.pop("event_id")

        event_type = cast(Literal["job.metrics_recorded"], d.pop("event_type"))
        if event_type != "job.metrics_recorded":
            raise ValueError(
                f"event_type must match const 'job.metrics_recorded', got '{event_type}'"
            )

        job_id = d.pop("job_id")

        payload = JobMetricsRecordedPayload.from_dict(d.pop("payload"))

        schema_version = cast(Literal[1], d.pop("schema_version"))
        if schema_version != 1:
            raise ValueError(
                f"schema_version must match const 1, got '{schema_version}'"
            )

        sequence = d.pop("sequence")

        status = JobMetricsRecordedStatus(d.pop("status"))

        timestamp = d.pop("timestamp")

        user_id = d.pop("user_id")

        attempt = d.pop("attempt", UNSET)

        job_metrics_recorded = cls(
            correlation_id=correlation_id,
            event_id=event_id,
            event_type=event_type,
            job_id=job_id,
            payload=payload,
            schema_version=schema_version,
            sequence=sequence,
            status=status,
            timestamp=timestamp,
            user_id=user_id,
            attempt=attempt,
        )

        return job_metrics_recorded
