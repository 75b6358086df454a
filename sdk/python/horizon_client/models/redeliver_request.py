from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="RedeliverRequest")


@_attrs_define
class RedeliverRequest:
    """
    Attributes:
        from_ (UUID): The first delivery to send again.
        to (None | Unset | UUID): The last (default: `from` alone); by id, so a range in time order.
    """

    from_: UUID
    to: None | Unset | UUID = UNSET

    def to_dict(self) -> dict[str, Any]:
        from_ = str(self.from_)

        to: None | str | Unset
        if isinstance(self.to, Unset):
            to = UNSET
        elif isinstance(self.to, UUID):
            to = str(self.to)
        else:
            to = self.to

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "from": from_,
            }
        )
        if to is not UNSET:
            field_dict["to"] = to

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        from_ = UUID(d.pop("from"))

        def _parse_to(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                to_type_0 = UUID(data)

                return to_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        to = _parse_to(d.pop("to", UNSET))

        redeliver_request = cls(
            from_=from_,
            to=to,
        )

        return redeliver_request
