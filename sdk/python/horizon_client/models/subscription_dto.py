from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="SubscriptionDto")


@_attrs_define
class SubscriptionDto:
    """
    Attributes:
        created_at (str): RFC 3339
        event_types (list[str]):
        id (UUID):
        url (str):
        user_id (str):
        agent (None | str | Unset):
        disabled_at (None | str | Unset): Set when deliveries kept failing (then `disabled_reason` says which);
            `POST …/enable` resumes it.
        disabled_reason (None | str | Unset):
        previous_secret_valid_until (None | str | Unset): After a rotation: until when the previous secret also signs.
        secret (None | str | Unset): The signing secret (`whsec_…`): only in the answer that creates or
            rotates it.
        status (None | str | Unset):
    """

    created_at: str
    event_types: list[str]
    id: UUID
    url: str
    user_id: str
    agent: None | str | Unset = UNSET
    disabled_at: None | str | Unset = UNSET
    disabled_reason: None | str | Unset = UNSET
    previous_secret_valid_until: None | str | Unset = UNSET
    secret: None | str | Unset = UNSET
    status: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at

        event_types = self.event_types

        id = str(self.id)

        url = self.url

        user_id = self.user_id

        agent: None | str | Unset
        if isinstance(self.agent, Unset):
            agent = UNSET
        else:
            agent = self.agent

        disabled_at: None | str | Unset
        if isinstance(self.disabled_at, Unset):
            disabled_at = UNSET
        else:
            disabled_at = self.disabled_at

        disabled_reason: None | str | Unset
        if isinstance(self.disabled_reason, Unset):
            disabled_reason = UNSET
        else:
            disabled_reason = self.disabled_reason

        previous_secret_valid_until: None | str | Unset
        if isinstance(self.previous_secret_valid_until, Unset):
            previous_secret_valid_until = UNSET
        else:
            previous_secret_valid_until = self.previous_secret_valid_until

        secret: None | str | Unset
        if isinstance(self.secret, Unset):
            secret = UNSET
        else:
            secret = self.secret

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        else:
            status = self.status

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "event_types": event_types,
                "id": id,
                "url": url,
                "user_id": user_id,
            }
        )
        if agent is not UNSET:
            field_dict["agent"] = agent
        if disabled_at is not UNSET:
            field_dict["disabled_at"] = disabled_at
        if disabled_reason is not UNSET:
            field_dict["disabled_reason"] = disabled_reason
        if previous_secret_valid_until is not UNSET:
            field_dict["previous_secret_valid_until"] = previous_secret_valid_until
        if secret is not UNSET:
            field_dict["secret"] = secret
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        created_at = d.pop("created_at")

        event_types = cast(list[str], d.pop("event_types"))

        id = UUID(d.pop("id"))

        url = d.pop("url")

        user_id = d.pop("user_id")

        def _parse_agent(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        agent = _parse_agent(d.pop("agent", UNSET))

        def _parse_disabled_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        disabled_at = _parse_disabled_at(d.pop("disabled_at", UNSET))

        def _parse_disabled_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        disabled_reason = _parse_disabled_reason(d.pop("disabled_reason", UNSET))

        def _parse_previous_secret_valid_until(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        previous_secret_valid_until = _parse_previous_secret_valid_until(
            d.pop("previous_secret_valid_until", UNSET)
        )

        def _parse_secret(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        secret = _parse_secret(d.pop("secret", UNSET))

        def _parse_status(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        status = _parse_status(d.pop("status", UNSET))

        subscription_dto = cls(
            created_at=created_at,
            event_types=event_types,
            id=id,
            url=url,
            user_id=user_id,
            agent=agent,
            disabled_at=disabled_at,
            disabled_reason=disabled_reason,
            previous_secret_valid_until=previous_secret_valid_until,
            secret=secret,
            status=status,
        )

        subscription_dto.additional_properties = d
        return subscription_dto

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
