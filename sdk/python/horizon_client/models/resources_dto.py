from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="ResourcesDto")


@_attrs_define
class ResourcesDto:
    """A job's resources. A field left out (or null) means the backend's default.

    Attributes:
        cores_per_node (int | None | Unset):
        gpus (int | None | Unset):
        memory_mb (int | None | Unset):
        nodes (int | None | Unset):
        walltime_minutes (int | None | Unset):
    """

    cores_per_node: int | None | Unset = UNSET
    gpus: int | None | Unset = UNSET
    memory_mb: int | None | Unset = UNSET
    nodes: int | None | Unset = UNSET
    walltime_minutes: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        cores_per_node: int | None | Unset
        if isinstance(self.cores_per_node, Unset):
            cores_per_node = UNSET
        else:
            cores_per_node = self.cores_per_node

        gpus: int | None | Unset
        if isinstance(self.gpus, Unset):
            gpus = UNSET
        else:
            gpus = self.gpus

        memory_mb: int | None | Unset
        if isinstance(self.memory_mb, Unset):
            memory_mb = UNSET
        else:
            memory_mb = self.memory_mb

        nodes: int | None | Unset
        if isinstance(self.nodes, Unset):
            nodes = UNSET
        else:
            nodes = self.nodes

        walltime_minutes: int | None | Unset
        if isinstance(self.walltime_minutes, Unset):
            walltime_minutes = UNSET
        else:
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

        def _parse_cores_per_node(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        cores_per_node = _parse_cores_per_node(d.pop("cores_per_node", UNSET))

        def _parse_gpus(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        gpus = _parse_gpus(d.pop("gpus", UNSET))

        def _parse_memory_mb(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        memory_mb = _parse_memory_mb(d.pop("memory_mb", UNSET))

        def _parse_nodes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        nodes = _parse_nodes(d.pop("nodes", UNSET))

        def _parse_walltime_minutes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        walltime_minutes = _parse_walltime_minutes(d.pop("walltime_minutes", UNSET))

        resources_dto = cls(
            cores_per_node=cores_per_node,
            gpus=gpus,
            memory_mb=memory_mb,
            nodes=nodes,
            walltime_minutes=walltime_minutes,
        )

        return resources_dto
