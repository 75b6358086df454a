from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

if TYPE_CHECKING:
    from ..models.agent_stats_dto import AgentStatsDto


T = TypeVar("T", bound="AgentStatsListDto")


@_attrs_define
class AgentStatsListDto:
    """
    Attributes:
        agents (list[AgentStatsDto]): By agent name.
        since (datetime.datetime): The window's start.
        truncated (bool): The window held more jobs than are counted (the newest
            `STATS_MAX_JOBS`): narrow it.
    """

    agents: list[AgentStatsDto]
    since: datetime.datetime
    truncated: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        agents = []
        for agents_item_data in self.agents:
            agents_item = agents_item_data.to_dict()
            agents.append(agents_item)

        since = self.since.isoformat()

        truncated = self.truncated

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agents": agents,
                "since": since,
                "truncated": truncated,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.agent_stats_dto import AgentStatsDto

        d = dict(src_dict)
        agents = []
        _agents = d.pop("agents")
        for agents_item_data in _agents:
            agents_item = AgentStatsDto.from_dict(agents_item_data)

            agents.append(agents_item)

        since = datetime.datetime.fromisoformat(d.pop("since"))

        truncated = d.pop("truncated")

        agent_stats_list_dto = cls(
            agents=agents,
            since=since,
            truncated=truncated,
        )

        agent_stats_list_dto.additional_properties = d
        return agent_stats_list_dto

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
