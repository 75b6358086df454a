from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from typing_extensions import Self

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.dependency_dto import DependencyDto
    from ..models.resources_dto import ResourcesDto
    from ..models.retry_request_dto import RetryRequestDto
    from ..models.submit_job_request_parameters import SubmitJobRequestParameters


T = TypeVar("T", bound="SubmitJobRequest")


@_attrs_define
class SubmitJobRequest:
    """`POST /v1/jobs`

    Attributes:
        agent (str): An agent named in the server's configuration.
        dataset_id (str): 1 to 256 characters.
        depends_on (list[DependencyDto] | None | Unset): Jobs (the caller's) this one runs after: it waits in SUBMITTED
            until
            each has ended as its condition says, and ends CANCELLED once one
            can no longer (at most 1000).
        parameters (SubmitJobRequestParameters | Unset): A JSON object, at most 64 KiB serialized.
        resources (None | ResourcesDto | Unset):
        retry (None | RetryRequestDto | Unset):
    """

    agent: str
    dataset_id: str
    depends_on: list[DependencyDto] | None | Unset = UNSET
    parameters: SubmitJobRequestParameters | Unset = UNSET
    resources: None | ResourcesDto | Unset = UNSET
    retry: None | RetryRequestDto | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.resources_dto import ResourcesDto
        from ..models.retry_request_dto import RetryRequestDto

        agent = self.agent

        dataset_id = self.dataset_id

        depends_on: list[dict[str, Any]] | None | Unset
        if isinstance(self.depends_on, Unset):
            depends_on = UNSET
        elif isinstance(self.depends_on, list):
            depends_on = []
            for depends_on_type_0_item_data in self.depends_on:
                depends_on_type_0_item = depends_on_type_0_item_data.to_dict()
                depends_on.append(depends_on_type_0_item)

        else:
            depends_on = self.depends_on

        parameters: dict[str, Any] | Unset = UNSET
        if not isinstance(self.parameters, Unset):
            parameters = self.parameters.to_dict()

        resources: dict[str, Any] | None | Unset
        if isinstance(self.resources, Unset):
            resources = UNSET
        elif isinstance(self.resources, ResourcesDto):
            resources = self.resources.to_dict()
        else:
            resources = self.resources

        retry: dict[str, Any] | None | Unset
        if isinstance(self.retry, Unset):
            retry = UNSET
        elif isinstance(self.retry, RetryRequestDto):
            retry = self.retry.to_dict()
        else:
            retry = self.retry

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "agent": agent,
                "dataset_id": dataset_id,
            }
        )
        if depends_on is not UNSET:
            field_dict["depends_on"] = depends_on
        if parameters is not UNSET:
            field_dict["parameters"] = parameters
        if resources is not UNSET:
            field_dict["resources"] = resources
        if retry is not UNSET:
            field_dict["retry"] = retry

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.dependency_dto import DependencyDto
        from ..models.resources_dto import ResourcesDto
        from ..models.retry_request_dto import RetryRequestDto
        from ..models.submit_job_request_parameters import SubmitJobRequestParameters

        d = dict(src_dict)
        agent = d.pop("agent")

        dataset_id = d.pop("dataset_id")

        def _parse_depends_on(data: object) -> list[DependencyDto] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                depends_on_type_0 = []
                _depends_on_type_0 = data
                for depends_on_type_0_item_data in _depends_on_type_0:
                    depends_on_type_0_item = DependencyDto.from_dict(
                        depends_on_type_0_item_data
                    )

                    depends_on_type_0.append(depends_on_type_0_item)

                return depends_on_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[DependencyDto] | None | Unset, data)

        depends_on = _parse_depends_on(d.pop("depends_on", UNSET))

        _parameters = d.pop("parameters", UNSET)
        parameters: SubmitJobRequestParameters | Unset
        if isinstance(_parameters, Unset):
            parameters = UNSET
        else:
            parameters = SubmitJobRequestParameters.from_dict(_parameters)

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

        def _parse_retry(data: object) -> None | RetryRequestDto | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                retry_type_0 = RetryRequestDto.from_dict(data)

                return retry_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RetryRequestDto | Unset, data)

        retry = _parse_retry(d.pop("retry", UNSET))

        submit_job_request = cls(
            agent=agent,
            dataset_id=dataset_id,
            depends_on=depends_on,
            parameters=parameters,
            resources=resources,
            retry=retry,
        )

        return submit_job_request
