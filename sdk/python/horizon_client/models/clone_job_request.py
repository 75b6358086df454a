from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from typing_extensions import Self

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.clone_job_request_parameters_type_0 import (
        CloneJobRequestParametersType0,
    )
    from ..models.resources_dto import ResourcesDto


T = TypeVar("T", bound="CloneJobRequest")


@_attrs_define
class CloneJobRequest:
    """`POST /v1/jobs/{id}/clone`: what the new job changes; everything left
    out is the original's.

        Attributes:
            dataset_id (None | str | Unset): Another dataset (1 to 256 characters).
            parameters (CloneJobRequestParametersType0 | None | Unset): Parameters to set: each key given replaces the
                original's; the
                others are kept.
            resources (None | ResourcesDto | Unset):
    """

    dataset_id: None | str | Unset = UNSET
    parameters: CloneJobRequestParametersType0 | None | Unset = UNSET
    resources: None | ResourcesDto | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.clone_job_request_parameters_type_0 import (
            CloneJobRequestParametersType0,
        )
        from ..models.resources_dto import ResourcesDto

        dataset_id: None | str | Unset
        if isinstance(self.dataset_id, Unset):
            dataset_id = UNSET
        else:
            dataset_id = self.dataset_id

        parameters: dict[str, Any] | None | Unset
        if isinstance(self.parameters, Unset):
            parameters = UNSET
        elif isinstance(self.parameters, CloneJobRequestParametersType0):
            parameters = self.parameters.to_dict()
        else:
            parameters = self.parameters

        resources: dict[str, Any] | None | Unset
        if isinstance(self.resources, Unset):
            resources = UNSET
        elif isinstance(self.resources, ResourcesDto):
            resources = self.resources.to_dict()
        else:
            resources = self.resources

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if dataset_id is not UNSET:
            field_dict["dataset_id"] = dataset_id
        if parameters is not UNSET:
            field_dict["parameters"] = parameters
        if resources is not UNSET:
            field_dict["resources"] = resources

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.clone_job_request_parameters_type_0 import (
            CloneJobRequestParametersType0,
        )
        from ..models.resources_dto import ResourcesDto

        d = dict(src_dict)

        def _parse_dataset_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        dataset_id = _parse_dataset_id(d.pop("dataset_id", UNSET))

        def _parse_parameters(
            data: object,
        ) -> CloneJobRequestParametersType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                parameters_type_0 = CloneJobRequestParametersType0.from_dict(data)

                return parameters_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CloneJobRequestParametersType0 | None | Unset, data)

        parameters = _parse_parameters(d.pop("parameters", UNSET))

        def _parse_resources(data: object) -> None | ResourcesDto | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                resources_type_0 = ResourcesDto.from_dict(data)

                return resources_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ResourcesDto | Unset, data)

        resources = _parse_resources(d.pop("resources", UNSET))

        clone_job_request = cls(
            dataset_id=dataset_id,
            parameters=parameters,
            resources=resources,
        )

        return clone_job_request
