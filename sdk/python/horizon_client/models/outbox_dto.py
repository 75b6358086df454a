from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="OutboxDto")


@_attrs_define
class OutboxDto:
    """
    Attributes:
        depth (int): Events waiting for Kafka (not parked).
        lag_seconds (float): How long the oldest waiting event has waited: the relay's lag
            (0 when nothing waits).
        parked (int): Events Kafka refused for good (`/v1/admin/parked-events`).
        oldest_waiting_at (None | str | Unset): RFC 3339: when the oldest waiting event was written.
    """

    depth: int
    lag_seconds: float
    parked: int
    oldest_waiting_at: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        depth = self.depth

        lag_seconds = self.lag_seconds

        parked = self.parked

        oldest_waiting_at: None | str | Unset
        if isinstance(self.oldest_waiting_at, Unset):
            oldest_waiting_at = UNSET
        else:
            oldest_waiting_at = self.oldest_waiting_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "depth": depth,
                "lag_seconds": lag_seconds,
                "parked": parked,
            }
        )
        if oldest_waiting_at is not UNSET:
            field_dict["oldest_waiting_at"] = oldest_waiting_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        depth = d.pop("depth")

        lag_seconds = d.pop("lag_seconds")

        parked = d.pop("parked")

        def _parse_oldest_waiting_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        oldest_waiting_at = _parse_oldest_waiting_at(d.pop("oldest_waiting_at", UNSET))

        outbox_dto = cls(
            depth=depth,
            lag_seconds=lag_seconds,
            parked=parked,
            oldest_waiting_at=oldest_waiting_at,
        )

        outbox_dto.additional_properties = d
        return outbox_dto

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
