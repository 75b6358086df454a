from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.cluster_dto_relay import ClusterDtoRelay
    from ..models.outbox_dto import OutboxDto
    from ..models.process_dto import ProcessDto
    from ..models.relay_lease_dto import RelayLeaseDto


T = TypeVar("T", bound="ClusterDto")


@_attrs_define
class ClusterDto:
    """
    Attributes:
        processes (list[ProcessDto]): Those heard from in the last day (with SQLite: this one).
        relay (ClusterDtoRelay): This process's relay, as on `/readyz` (`{"state": "disabled"}`
            without Kafka).
        shared_database (bool): Several processes share a PostgreSQL database; with SQLite there is
            one, and it relays.
        this_process (UUID): The process that answered.
        outbox (None | OutboxDto | Unset):
        relay_lease (None | RelayLeaseDto | Unset):
    """

    processes: list[ProcessDto]
    relay: ClusterDtoRelay
    shared_database: bool
    this_process: UUID
    outbox: None | OutboxDto | Unset = UNSET
    relay_lease: None | RelayLeaseDto | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.outbox_dto import OutboxDto
        from ..models.relay_lease_dto import RelayLeaseDto

        processes = []
        for processes_item_data in self.processes:
            processes_item = processes_item_data.to_dict()
            processes.append(processes_item)

        relay = self.relay.to_dict()

        shared_database = self.shared_database

        this_process = str(self.this_process)

        outbox: dict[str, Any] | None | Unset
        if isinstance(self.outbox, Unset):
            outbox = UNSET
        elif isinstance(self.outbox, OutboxDto):
            outbox = self.outbox.to_dict()
        else:
            outbox = self.outbox

        relay_lease: dict[str, Any] | None | Unset
        if isinstance(self.relay_lease, Unset):
            relay_lease = UNSET
        elif isinstance(self.relay_lease, RelayLeaseDto):
            relay_lease = self.relay_lease.to_dict()
        else:
            relay_lease = self.relay_lease

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "processes": processes,
                "relay": relay,
                "shared_database": shared_database,
                "this_process": this_process,
            }
        )
        if outbox is not UNSET:
            field_dict["outbox"] = outbox
        if relay_lease is not UNSET:
            field_dict["relay_lease"] = relay_lease

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.cluster_dto_relay import ClusterDtoRelay
        from ..models.outbox_dto import OutboxDto
        from ..models.process_dto import ProcessDto
        from ..models.relay_lease_dto import RelayLeaseDto

        d = dict(src_dict)
        processes = []
        _processes = d.pop("processes")
        for processes_item_data in _processes:
            processes_item = ProcessDto.from_dict(processes_item_data)

            processes.append(processes_item)

        relay = ClusterDtoRelay.from_dict(d.pop("relay"))

        shared_database = d.pop("shared_database")

        this_process = UUID(d.pop("this_process"))

        def _parse_outbox(data: object) -> None | OutboxDto | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                outbox_type_0 = OutboxDto.from_dict(data)

                return outbox_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OutboxDto | Unset, data)

        outbox = _parse_outbox(d.pop("outbox", UNSET))

        def _parse_relay_lease(data: object) -> None | RelayLeaseDto | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                relay_lease_type_0 = RelayLeaseDto.from_dict(data)

                return relay_lease_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RelayLeaseDto | Unset, data)

        relay_lease = _parse_relay_lease(d.pop("relay_lease", UNSET))

        cluster_dto = cls(
            processes=processes,
            relay=relay,
            shared_database=shared_database,
            this_process=this_process,
            outbox=outbox,
            relay_lease=relay_lease,
        )

        cluster_dto.additional_properties = d
        return cluster_dto

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
