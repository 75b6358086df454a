from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="ReplayProgressDto")


@_attrs_define
class ReplayProgressDto:
    """
    Attributes:
        replay_id (UUID):
        sent (int): Events Kafka acknowledged so far.
        started_at (str): RFC 3339
        state (str): `running`, `done` or `failed`
        total (int): Events selected when the replay started.
        error (None | str | Unset):
        finished_at (None | str | Unset):
    """

    replay_id: UUID
    sent: int
    started_at: str
    state: str
    total: int
    error: None | str | Unset = UNSET
    finished_at: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        replay_id = str(self.replay_id)

        sent = self.sent

        started_at = self.started_at

        state = self.state

        total = self.total

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        else:
            finished_at = self.finished_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "replay_id": replay_id,
                "sent": sent,
                "started_at": started_at,
                "state": state,
                "total": total,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        replay_id = UUID(d.pop("replay_id"))

        sent = d.pop("sent")

        started_at = d.pop("started_at")

        state = d.pop("state")

        total = d.pop("total")

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_finished_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))

        replay_progress_dto = cls(
            replay_id=replay_id,
            sent=sent,
            started_at=started_at,
            state=state,
            total=total,
            error=error,
            finished_at=finished_at,
        )

        replay_progress_dto.additional_properties = d
        return replay_progress_dto

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
