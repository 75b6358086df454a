from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="JobRetryScheduledPayloadResources")


@_attrs_define
class JobRetryScheduledPayloadResources:
    """what the next attempt asks for

    Attributes:
        cores_per_node (int | Unset):
        gpus (int | Unset):
        memory_mb (int | Unset):
        nodes (int | Unset):
        walltime_minutes (int | Unset):
    """

    cores_per_node: int | Unset = UNSET
    gpus: int | Unset = UNSET
    memory_mb: int | Unset = UNSET
    nodes: int | Unset = UNSET
    walltime_minutes: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        cores_per_node = self.cores_per_node

        gpus = self.gpus

        memory_mb = self.memory_mb

        nodes = self.nodes

        walltime_minutes = self.walltime_minutes

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if cores_per_node is not UNSET:
            field_dict["cores_per_node"] = cores_per_node
        if gpus is not UNSET:
            field_dict["gpus"] = gpus
        if memory_mb is not UNSET:
            field_dict["memory_mb"] = memory_mb
        if nodes is not UNSET:
            field_dict["nodes"] = nodes
        if walltime_minutes is not UNSET:
            field_dict["walltime_minutes"] = walltime_minutes

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        cores_per_node = d.pop("cores_per_node", UNSET)

        gpus = d.pop("gpus", UNSET)

        memory_mb = d.pop("memory_mb", UNSET)

        nodes = d.pop("nodes", UNSET)

        walltime_minutes = d.pop("walltime_minutes", UNSET)

        job_retry_scheduled_payload_resources = cls(
            cores_per_node=cores_per_node,
            gpus=gpus,
            memory_mb=memory_mb,
            nodes=nodes,
            walltime_minutes=walltime_minutes,
        )

        return job_retry_scheduled_payload_resources
