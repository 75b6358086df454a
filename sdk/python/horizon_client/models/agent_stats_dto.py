from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.percentiles_dto import PercentilesDto
    from ..models.status_counts_dto import StatusCountsDto


T = TypeVar("T", bound="AgentStatsDto")


@_attrs_define
class AgentStatsDto:
    """One agent's jobs over the window.

    Attributes:
        agent (str):
        by_status (StatusCountsDto): Jobs by status.
        jobs (int):
        queue_seconds (None | PercentilesDto | Unset):
        run_seconds (None | PercentilesDto | Unset):
        success_rate (float | None | Unset): COMPLETED / (COMPLETED + FAILED); absent before any ended so.
    """

    agent: str
    by_status: StatusCountsDto
    jobs: int
    queue_seconds: None | PercentilesDto | Unset = UNSET
    run_seconds: None | PercentilesDto | Unset = UNSET
    success_rate: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.percentiles_dto import PercentilesDto

        agent = self.agent

        by_status = self.by_status.to_dict()

        jobs = self.jobs

        queue_seconds: dict[str, Any] | None | Unset
        if isinstance(self.queue_seconds, Unset):
            queue_seconds = UNSET
        elif isinstance(self.queue_seconds, PercentilesDto):
            queue_seconds = self.queue_seconds.to_dict()
        else:
            queue_seconds = self.queue_seconds

        run_seconds: dict[str, Any] | None | Unset
        if isinstance(self.run_seconds, Unset):
            run_seconds = UNSET
        elif isinstance(self.run_seconds, PercentilesDto):
            run_seconds = self.run_seconds.to_dict()
        else:
            run_seconds = self.run_seconds

        success_rate: float | None | Unset
        if isinstance(self.success_rate, Unset):
            success_rate = UNSET
        else:
            success_rate = self.success_rate

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agent": agent,
                "by_status": by_status,
                "jobs": jobs,
            }
        )
        if queue_seconds is not UNSET:
            field_dict["queue_seconds"] = queue_seconds
        if run_seconds is not UNSET:
            field_dict["run_seconds"] = run_seconds
        if success_rate is not UNSET:
            field_dict["success_rate"] = success_rate

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.percentiles_dto import PercentilesDto
        from ..models.status_counts_dto import StatusCountsDto

        d = dict(src_dict)
        agent = d.pop("agent")

        by_status = StatusCountsDto.from_dict(d.pop("by_status"))

        jobs = d.pop("jobs")

        def _parse_queue_seconds(data: object) -> None | PercentilesDto | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                queue_seconds_type_0 = PercentilesDto.from_dict(data)

                return queue_seconds_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PercentilesDto | Unset, data)

        queue_seconds = _parse_queue_seconds(d.pop("queue_seconds", UNSET))

        def _parse_run_seconds(data: object) -> None | PercentilesDto | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                run_seconds_type_0 = PercentilesDto.from_dict(data)

                return run_seconds_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PercentilesDto | Unset, data)

        run_seconds = _parse_run_seconds(d.pop("run_seconds", UNSET))

        def _parse_success_rate(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        success_rate = _parse_success_rate(d.pop("success_rate", UNSET))

        agent_stats_dto = cls(
            agent=agent,
            by_status=by_status,
            jobs=jobs,
            queue_seconds=queue_seconds,
            run_seconds=run_seconds,
            success_rate=success_rate,
        )

        agent_stats_dto.additional_properties = d
        return agent_stats_dto

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
