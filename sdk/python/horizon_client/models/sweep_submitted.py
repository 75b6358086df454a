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

if TYPE_CHECKING:
    from ..models.sweep_submitted_payload import SweepSubmittedPayload


T = TypeVar("T", bound="SweepSubmitted")


@_attrs_define
class SweepSubmitted:
    """A sweep was accepted: all its jobs are stored (each with its own job.submitted, after this event). Not a job's
    event: it is keyed by the sweep's id (the Kafka key, ce_subject) on the lifecycle topic, and carries sweep_id in
    place of job_id and no status. Schema version 1 of the Horizon event envelope.

        Attributes:
            correlation_id (str):
            event_id (str): UUID v7; also the ce_id header
            event_type (Literal['sweep.submitted']):
            payload (SweepSubmittedPayload):
            schema_version (Literal[1]):
            sequence (Literal[1]): a sweep's events: 1 (sweep.submitted), 2 (sweep.completed)
            sweep_id (str): the sweep's id: the Kafka key
            timestamp (str): RFC 3339 UTC, millisecond precision
            user_id (str):
    """

    correlation_id: str
    event_id: str
    event_type: Literal["sweep.submitted"]
    payload: SweepSubmittedPayload
    schema_version: Literal[1]
    sequence: Literal[1]
    sweep_id: str
    timestamp: str
    user_id: str

    def to_dict(self) -> dict[str, Any]:
        correlation_id = self.correlation_id

        event_id = self.event_id

        event_type = self.event_type

        payload = self.payload.to_dict()

        schema_version = self.schema_version

        sequence = self.sequence

        sweep_id = self.sweep_id

        timestamp = self.timestamp

        user_id = self.user_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "correlation_id": correlation_id,
                "event_id": event_id,
                "event_type": event_type,
                "payload": payload,
                "schema_version": schema_version,
                "sequence": sequence,
                "sweep_id": sweep_id,
                "timestamp": timestamp,
                "user_id": user_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.sweep_submitted_payload import SweepSubmittedPayload

        d = dict(src_dict)
        correlation_id = d.pop("correlation_id")

        event_id = d.pop("event_id")

        event_type = cast(Literal["sweep.submitted"], d.pop("event_type"))
        if event_type != "sweep.submitted":
            raise ValueError(
                f"event_type must match const 'sweep.submitted', got '{event_type}'"
            )

        payload = SweepSubmittedPayload.from_dict(d.pop("payload"))

        schema_version = cast(Literal[1], d.pop("schema_version"))
        if schema_version != 1:
            raise ValueError(
                f"schema_version must match const 1, got '{schema_version}'"
            )

        sequence = cast(Literal[1], d.pop("sequence"))
        if sequence != 1:
            raise ValueError(f"sequence must match const 1, got '{sequence}'")

        sweep_id = d.pop("sweep_id")

        timestamp = d.pop("timestamp")

        user_id = d.pop("user_id")

        sweep_submitted = cls(
            correlation_id=correlation_id,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            schema_version=schema_version,
            sequence=sequence,
            sweep_id=sweep_id,
            timestamp=timestamp,
            user_id=user_id,
        )

        return sweep_submitted
