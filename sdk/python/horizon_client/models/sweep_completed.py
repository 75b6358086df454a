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
    from ..models.sweep_completed_payload import SweepCompletedPayload


T = TypeVar("T", bound="SweepCompleted")


@_attrs_define
class SweepCompleted:
    """Every job of a sweep ended; how many ended each way. Not a job's event: it is keyed by the sweep's id (the Kafka
    key, ce_subject) on the lifecycle topic, and carries sweep_id in place of job_id and no status. Schema version 1 of
    the Horizon event envelope.

        Attributes:
            correlation_id (str):
            event_id (str): UUID v7; also the ce_id header
            event_type (Literal['sweep.completed']):
            payload (SweepCompletedPayload):
            schema_version (Literal[1]):
            sequence (Literal[2]): a sweep's events: 1 (sweep.submitted), 2 (sweep.completed)
            sweep_id (str): the sweep's id: the Kafka key
            timestamp (str): RFC 3339 UTC, millisecond precision
            user_id (str):
    """

    correlation_id: str
    event_id: str
    event_type: Literal["sweep.completed"]
    payload: SweepCompletedPayload
    schema_version: Literal[1]
    sequence: Literal[2]
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
        from ..models.sweep_completed_payload import SweepCompletedPayload

        d = dict(src_dict)
        correlation_id = d.pop("correlation_id")

        event_id = d.pop("event_id")

        event_type = cast(Literal["sweep.completed"], d.pop("event_type"))
        if event_type != "sweep.completed":
            raise ValueError(
                f"event_type must match const 'sweep.completed', got '{event_type}'"
            )

        payload = SweepCompletedPayload.from_dict(d.pop("payload"))

        schema_version = cast(Literal[1], d.pop("schema_version"))
        if schema_version != 1:
            raise ValueError(
                f"schema_version must match const 1, got '{schema_version}'"
            )

        sequence = cast(Literal[2], d.pop("sequence"))
        if sequence != 2:
            raise ValueError(f"sequence must match const 2, got '{sequence}'")

        sweep_id = d.pop("sweep_id")

        timestamp = d.pop("timestamp")

        user_id = d.pop("user_id")

        sweep_completed = cls(
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

        return sweep_completed
