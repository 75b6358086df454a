from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from typing_extensions import Self

from ..models.dependency_condition_dto import DependencyConditionDto

T = TypeVar("T", bound="DependencyDto")


@_attrs_define
class DependencyDto:
    """One job this one runs after.

    Attributes:
        condition (DependencyConditionDto): How the job depended on must have ended.
        job_id (UUID):
    """

    condition: DependencyConditionDto
    job_id: UUID

    def to_dict(self) -> dict[str, Any]:
        condition = self.condition.value

        job_id = str(self.job_id)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "condition": condition,
                "job_id": job_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        condition = DependencyConditionDto(d.pop("condition"))

        job_id = UUID(d.pop("job_id"))

        dependency_dto = cls(
            condition=condition,
            job_id=job_id,
        )

        return dependency_dto
