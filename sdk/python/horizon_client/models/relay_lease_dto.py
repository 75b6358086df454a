from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="RelayLeaseDto")


@_attrs_define
class RelayLeaseDto:
    """
    Attributes:
        epoch (int): How many times it has changed hands.
        expired (bool): Nobody relays until a process takes it again.
        expires_at (str): RFC 3339
        process (None | Unset | UUID): The process that holds it (null: taken before this was recorded).
    """

    epoch: int
    expired: bool
    expires_at: str
    process: None | Unset | UUID = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        epoch = self.epoch

        expired = self.expired

        expires_at = self.expires_at

        process: None | str | Unset
        if isinstance(self.process, Unset):
            process = UNSET
        elif isinstance(self.process, UUID):
            process = str(self.process)
        else:
            process = self.process

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "epoch": epoch,
                "expired": expired,
                "expires_at": expires_at,
            }
        )
        if process is not UNSET:
            field_dict["process"] = process

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        epoch = d.pop("epoch")

        expired = d.pop("expired")

        expires_at = d.pop("expires_at")

        def _parse_process(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                process_type_0 = UUID(data)

                return process_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        process = _parse_process(d.pop("process", UNSET))

        relay_lease_dto = cls(
            epoch=epoch,
            expired=expired,
            expires_at=expires_at,
            process=process,
        )

        relay_lease_dto.additional_properties = d
        return relay_lease_dto

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
