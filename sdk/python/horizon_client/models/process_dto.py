from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="ProcessDto")


@_attrs_define
class ProcessDto:
    """
    Attributes:
        alive (bool): Heard from within the process timeout (else its jobs are taken over).
        heartbeat_at (str): RFC 3339: when it last said it was alive.
        host (str):
        id (UUID):
        leads_relay (bool): Holds the relay's lease: it publishes the outbox to Kafka.
        pid (int):
        started_at (str): RFC 3339
        this_process (bool): The process that answered this request.
        gone_at (None | str | Unset): RFC 3339: when an operator said its host was gone for good.
        local_scope (None | str | Unset): Where it runs local jobs (host and jobs directory).
    """

    alive: bool
    heartbeat_at: str
    host: str
    id: UUID
    leads_relay: bool
    pid: int
    started_at: str
    this_process: bool
    gone_at: None | str | Unset = UNSET
    local_scope: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        alive = self.alive

        heartbeat_at = self.heartbeat_at

        host = self.host

        id = str(self.id)

        leads_relay = self.leads_relay

        pid = self.pid

        started_at = self.started_at

        this_process = self.this_process

        gone_at: None | str | Unset
        if isinstance(self.gone_at, Unset):
            gone_at = UNSET
        else:
            gone_at = self.gone_at

        local_scope: None | str | Unset
        if isinstance(self.local_scope, Unset):
            local_scope = UNSET
        else:
            local_scope = self.local_scope

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "alive": alive,
                "heartbeat_at": heartbeat_at,
                "host": host,
                "id": id,
                "leads_relay": leads_relay,
                "pid": pid,
                "started_at": started_at,
                "this_process": this_process,
            }
        )
        if gone_at is not UNSET:
            field_dict["gone_at"] = gone_at
        if local_scope is not UNSET:
            field_dict["local_scope"] = local_scope

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        alive = d.pop("alive")

        heartbeat_at = d.pop("heartbeat_at")

        host = d.pop("host")

        id = UUID(d.pop("id"))

        leads_relay = d.pop("leads_relay")

        pid = d.pop("pid")

        started_at = d.pop("started_at")

        this_process = d.pop("this_process")

        def _parse_gone_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        gone_at = _parse_gone_at(d.pop("gone_at", UNSET))

        def _parse_local_scope(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        local_scope = _parse_local_scope(d.pop("local_scope", UNSET))

        process_dto = cls(
            alive=alive,
            heartbeat_at=heartbeat_at,
            host=host,
            id=id,
            leads_relay=leads_relay,
            pid=pid,
            started_at=started_at,
            this_process=this_process,
            gone_at=gone_at,
            local_scope=local_scope,
        )

        process_dto.additional_properties = d
        return process_dto

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
