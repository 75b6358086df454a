from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from typing_extensions import Self

T = TypeVar("T", bound="SweepSubmittedPayload")


@_attrs_define
class SweepSubmittedPayload:
    """
    Attributes:
        agent (str):
        concurrency_limit (int | None): at most this many of its jobs run at once; null: no limit of its own
        size (int): how many points (jobs) it has
    """

    agent: str
    concurrency_limit: int | None
    size: int

    def to_dict(self) -> dict[str, Any]:
        agent = self.agent

        concurrency_limit: int | None
        concurrency_limit = self.concurrency_limit

        size = self.size

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "agent": agent,
                "concurrency_limit": concurrency_limit,
                "size": size,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        agent = d.pop("agent")

        def _parse_concurrency_limit(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        concurrency_limit = _parse_concurrency_limit(d.pop("concurrency_limit"))

        size = d.pop("size")

        sweep_submitted_payload = cls(
            agent=agent,
            concurrency_limit=concurrency_limit,
            size=size,
        )

        return sweep_submitted_payload
