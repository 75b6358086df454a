from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from typing_extensions import Self

from ..models.dependency_condition_dto import DependencyConditionDto
from ..types import UNSET, Unset

T = TypeVar("T", bound="DependencyDto")


@_attrs_define
class DependencyDto:
    """One job, or one sweep, this one runs after: exactly one of `job_id` and
    `sweep_id`.

        Attributes:
            condition (DependencyConditionDto): How the job depended on must have ended.
            job_id (None | Unset | UUID):
            sweep_id (None | Unset | UUID): A sweep: the condition holds for all its jobs (`after_ok`: all
                COMPLETED; `after_any`: all ended; `after_not_ok`: all ended and at
                least one did not complete).
    """

    condition: DependencyConditionDto
    job_id: None | Unset | UUID = UNSET
    sweep_id: None | Unset | UUID = UNSET

    def to_dict(self) -> dict[str, Any]:
        condition = self.condition.value

        job_id: None | str | Unset
        if isinstance(self.job_id, Unset):
            job_id = UNSET
        elif isinstance(self.job_id, UUID):
            job_id = str(self.job_id)
        else:
            job_id = self.job_id

        sweep_id: None | str | Unset
        if isinstance(self.sweep_id, Unset):
            sweep_id = UNSET
        elif isinstance(self.sweep_id, UUID):
            sweep_id = str(self.sweep_id)
        else:
            sweep_id = self.sweep_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "condition": condition,
            }
        )
        if job_id is not UNSET:
            field_dict["job_id"] = job_id
        if sweep_id is not UNSET:
            field_dict["sweep_id"] = sweep_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        condition = DependencyConditionDto(d.pop("condition"))

        def _parse_job_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                job_id_type_0 = UUID(data)

                return job_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        job_id = _parse_job_id(d.pop("job_id", UNSET))

        def _parse_sweep_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                sweep_id_type_0 = UUID(data)

                return sweep_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        sweep_id = _parse_sweep_id(d.pop("sweep_id", UNSET))

        dependency_dto = cls(
            condition=condition,
            job_id=job_id,
            sweep_id=sweep_id,
        )

        return dependency_dto
