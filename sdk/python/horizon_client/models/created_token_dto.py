from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="CreatedTokenDto")


@_attrs_define
class CreatedTokenDto:
    """
    Attributes:
        admin (bool):
        id (str): Its id (the first 12 hex digits of its hash), to list and revoke it.
        token (str): The token: shown this once, never stored.
        user_id (str):
        expires_at (None | str | Unset): RFC 3339; absent: it does not expire.
    """

    admin: bool
    id: str
    token: str
    user_id: str
    expires_at: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        admin = self.admin

        id = self.id

        token = self.token

        user_id = self.user_id

        expires_at: None | str | Unset
        if isinstance(self.expires_at, Unset):
            expires_at = UNSET
        else:
            expires_at = self.expires_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "admin": admin,
                "id": id,
                "token": token,
                "user_id": user_id,
            }
        )
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        admin = d.pop("admin")

        id = d.pop("id")

        token = d.pop("token")

        user_id = d.pop("user_id")

        def _parse_expires_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        expires_at = _parse_expires_at(d.pop("expires_at", UNSET))

        created_token_dto = cls(
            admin=admin,
            id=id,
            token=token,
            user_id=user_id,
            expires_at=expires_at,
        )

        created_token_dto.additional_properties = d
        return created_token_dto

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
