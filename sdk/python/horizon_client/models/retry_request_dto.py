from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="RetryRequestDto")


@_attrs_define
class RetryRequestDto:
    """A narrower retry policy than the agent's: each field left out is the
    agent's; a value outside the agent's policy is a 422.

        Attributes:
            attempts (int | None | Unset): At most the agent's `attempts` (1: no retry).
            exit_codes (list[int] | None | Unset): Exit codes to retry, among the agent's.
            on (list[str] | None | Unset): Error codes to retry, among the agent's.
    """

    attempts: int | None | Unset = UNSET
    exit_codes: list[int] | None | Unset = UNSET
    on: list[str] | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        attempts: int | None | Unset
        if isinstance(self.attempts, Unset):
            attempts = UNSET
        else:
            attempts = self.attempts

        exit_codes: list[int] | None | Unset
        if isinstance(self.exit_codes, Unset):
            exit_codes = UNSET
        elif isinstance(self.exit_codes, list):
            exit_codes = self.exit_codes

        else:
            exit_codes = self.exit_codes

        on: list[str] | None | Unset
        if isinstance(self.on, Unset):
            on = UNSET
        elif isinstance(self.on, list):
            on = self.on

        else:
            on = self.on

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if attempts is not UNSET:
            field_dict["attempts"] = attempts
        if exit_codes is not UNSET:
            field_dict["exit_codes"] = exit_codes
        if on is not UNSET:
            field_dict["on"] = on

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_attempts(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        attempts = _parse_attempts(d.pop("attempts", UNSET))

        def _parse_exit_codes(data: object) -> list[int] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                exit_codes_type_0 = cast(list[int], data)

                return exit_codes_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[int] | None | Unset, data)

        exit_codes = _parse_exit_codes(d.pop("exit_codes", UNSET))

        def _parse_on(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                on_type_0 = cast(list[str], data)

                return on_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        on = _parse_on(d.pop("on", UNSET))

        retry_request_dto = cls(
            attempts=attempts,
            exit_codes=exit_codes,
            on=on,
        )

        return retry_request_dto
