from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.agent_dto_parameters import AgentDtoParameters
    from ..models.resources_dto import ResourcesDto


T = TypeVar("T", bound="AgentDto")


@_attrs_define
class AgentDto:
    """One agent as `GET /v1/agents` shows it.

    Attributes:
        backend (str): `local`, `slurm` or `tapis`
        default_resources (ResourcesDto): A job's resources. A field left out (or null) means the backend's default.
        max_resources (ResourcesDto): A job's resources. A field left out (or null) means the backend's default.
        name (str):
        parameters (AgentDtoParameters): The parameters it reads, by name, with what each means.
        description (None | str | Unset): What the agent does.
    """

    backend: str
    default_resources: ResourcesDto
    max_resources: ResourcesDto
    name: str
    parameters: AgentDtoParameters
    description: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        backend = self.backend

        default_resources = self.default_resources.to_dict()

        max_resources = self.max_resources.to_dict()

        name = self.name

        parameters = self.parameters.to_dict()

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "backend": backend,
                "default_resources": default_resources,
                "max_resources": max_resources,
                "name": name,
                "parameters": parameters,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.agent_dto_parameters import AgentDtoParameters
        from ..models.resources_dto import ResourcesDto

        d = dict(src_dict)
        backend = d.pop("backend")

        default_resources = ResourcesDto.from_dict(d.pop("default_resources"))

        max_resources = ResourcesDto.from_dict(d.pop("max_resources"))

        name = d.pop("name")

        parameters = AgentDtoParameters.from_dict(d.pop("parameters"))

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        agent_dto = cls(
            backend=backend,
            default_resources=default_resources,
            max_resources=max_resources,
            name=name,
            parameters=parameters,
            description=description,
        )

        agent_dto.additional_properties = d
        return agent_dto

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
