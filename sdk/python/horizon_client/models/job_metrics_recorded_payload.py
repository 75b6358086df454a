from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from typing_extensions import Self

T = TypeVar("T", bound="JobMetricsRecordedPayload")


@_attrs_define
class JobMetricsRecordedPayload:
    """
    Attributes:
        cpu_usage_percent (float):
        io_operations (int):
        memory_usage_mb (float):
        timestamp (str): RFC 3339 UTC, millisecond precision
    """

    cpu_usage_percent: float
    io_operations: int
    memory_usage_mb: float
    timestamp: str

    def to_dict(self) -> dict[str, Any]:
        cpu_usage_percent = self.cpu_usage_percent

        io_operations = self.io_operations

        memory_usage_mb = self.memory_usage_mb

        timestamp = self.timestamp

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "cpu_usage_percent": cpu_usage_percent,
                "io_operations": io_operations,
                "memory_usage_mb": memory_usage_mb,
                "timestamp": timestamp,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        cpu_usage_percent = d.pop("cpu_usage_percent")

        io_operations = d.pop("io_operations")

        memory_usage_mb = d.pop("memory_usage_mb")

        timestamp = d.pop("timestamp")

        job_metrics_recorded_payload = cls(
            cpu_usage_percent=cpu_usage_percent,
            io_operations=io_operations,
            memory_usage_mb=memory_usage_mb,
            timestamp=timestamp,
        )

        return job_metrics_recorded_payload
