from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.sweep_dto_counts import SweepDtoCounts


T = TypeVar("T", bound="SweepDto")


@_attrs_define
class SweepDto:
    """A sweep and where its jobs stand.

    Attributes:
        agent (str):
        correlation_id (str):
        counts (SweepDtoCounts): How many of its jobs are in each status (every status, 0 included).
        created_at (datetime.datetime):
        id (UUID):
        jobs (str): Where its jobs are listed: `/v1/jobs?sweep_id=<id>`.
        size (int): How many points (jobs) it has.
        user_id (str):
        completed_at (datetime.datetime | None | Unset): When its last job ended (`sweep.completed`).
        concurrency_limit (int | None | Unset):
    """

    agent: str
    correlation_id: str
    counts: SweepDtoCounts
    created_at: datetime.datetime
    id: UUID
    jobs: str
    size: int
    user_id: str
    completed_at: datetime.datetime | None | Unset = UNSET
    concurrency_limit: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        agent = self.agent

        correlation_id = self.correlation_id

        counts = self.counts.to_dict()

        created_at = self.created_at.isoformat()

        id = str(self.id)

        jobs = self.jobs

        size = self.size

        user_id = self.user_id

        completed_at: None | str | Unset
        if isinstance(self.completed_at, Unset):
            completed_at = UNSET
        elif isinstance(self.completed_at, datetime.datetime):
            completed_at = self.completed_at.isoformat()
        else:
            completed_at = self.completed_at

        concurrency_limit: int | None | Unset
        if isinstance(self.concurrency_limit, Unset):
            concurrency_limit = UNSET
        else:
            concurrency_limit = self.concurrency_limit

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agent": agent,
                "correlation_id": correlation_id,
                "counts": counts,
                "created_at": created_at,
                "id": id,
                "jobs": jobs,
                "size": size,
                "user_id": user_id,
            }
        )
        if completed_at is not UNSET:
            field_dict["completed_at"] = completed_at
        if concurrency_limit is not UNSET:
            field_dict["concurrency_limit"] = concurrency_limit

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.sweep_dto_counts import SweepDtoCounts

        d = dict(src_dict)
        agent = d.pop("agent")

        correlation_id = d.pop("correlation_id")

        counts = SweepDtoCounts.from_dict(d.pop("counts"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = UUID(d.pop("id"))

        jobs = d.pop("jobs")

        size = d.pop("size")

        user_id = d.pop("user_id")

        def _parse_completed_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                completed_at_type_0 = datetime.datetime.fromisoformat(data)

                return completed_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        completed_at = _parse_completed_at(d.pop("completed_at", UNSET))

        def _parse_concurrency_limit(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        concurrency_limit = _parse_concurrency_limit(d.pop("concurrency_limit", UNSET))

        sweep_dto = cls(
            agent=agent,
            correlation_id=correlation_id,
            counts=counts,
            created_at=created_at,
            id=id,
            jobs=jobs,
            size=size,
            user_id=user_id,
            completed_at=completed_at,
            concurrency_limit=concurrency_limit,
        )

        sweep_dto.additional_properties = d
        return sweep_dto

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
