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
    from ..models.sweep_request_grid_type_0 import SweepRequestGridType0
    from ..models.sweep_request_parameters import SweepRequestParameters
    from ..models.sweep_request_points_type_0_item import SweepRequestPointsType0Item


T = TypeVar("T", bound="SweepRequest")


@_attrs_define
class SweepRequest:
    """`POST /v1/sweeps`: an agent over a dataset (or several), with a grid of
    parameters or a list of parameter sets; at most 100,000 points.

        Attributes:
            agent (str): An agent named in the server's configuration.
            concurrency_limit (int | None | Unset): At most this many of its jobs run at once (default: the agent's
                `sweep_concurrency_limit`, which a request may only lower).
            dataset_id (None | str | Unset): The dataset every point runs on (or give `datasets`).
            datasets (list[str] | None | Unset): Several datasets: each point runs on each of them (outermost).
            depends_on (list[DependencyDto] | None | Unset): Jobs or sweeps every job of this sweep runs after.
            grid (None | SweepRequestGridType0 | Unset): Lists of values by parameter name: their cartesian product is taken
                (names in alphabetical order, whatever the request's order: the
                last one varies fastest). Exclusive with `points`.
            parameters (SweepRequestParameters | Unset): Parameters every point has (a point's own values win).
            points (list[SweepRequestPointsType0Item] | None | Unset): Parameter sets, one per point. Exclusive with `grid`.
            resources (None | ResourcesDto | Unset):
            retry (None | RetryRequestDto | Unset):
    """

    agent: str
    concurrency_limit: int | None | Unset = UNSET
    dataset_id: None | str | Unset = UNSET
    datasets: list[str] | None | Unset = UNSET
    depends_on: list[DependencyDto] | None | Unset = UNSET
    grid: None | SweepRequestGridType0 | Unset = UNSET
    parameters: SweepRequestParameters | Unset = UNSET
    points: list[SweepRequestPointsType0Item] | None | Unset = UNSET
    resources: None | ResourcesDto | Unset = UNSET
    retry: None | RetryRequestDto | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.resources_dto import ResourcesDto
        from ..models.retry_request_dto import RetryRequestDto
        from ..models.sweep_request_grid_type_0 import SweepRequestGridType0

        agent = self.agent

        concurrency_limit: int | None | Unset
        if isinstance(self.concurrency_limit, Unset):
            concurrency_limit = UNSET
        else:
            concurrency_limit = self.concurrency_limit

        dataset_id: None | str | Unset
        if isinstance(self.dataset_id, Unset):
            dataset_id = UNSET
        else:
            dataset_id = self.dataset_id

        datasets: list[str] | None | Unset
        if isinstance(self.datasets, Unset):
            datasets = UNSET
        elif isinstance(self.datasets, list):
            datasets = self.datasets

        else:
            datasets = self.datasets

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

        grid: dict[str, Any] | None | Unset
        if isinstance(self.grid, Unset):
            grid = UNSET
        elif isinstance(self.grid, SweepRequestGridType0):
            grid = self.grid.to_dict()
        else:
            grid = self.grid

        parameters: dict[str, Any] | Unset = UNSET
        if not isinstance(self.parameters, Unset):
            parameters = self.parameters.to_dict()

        points: list[dict[str, Any]] | None | Unset
        if isinstance(self.points, Unset):
            points = UNSET
        elif isinstance(self.points, list):
            points = []
            for points_type_0_item_data in self.points:
                points_type_0_item = points_type_0_item_data.to_dict()
                points.append(points_type_0_item)

        else:
            points = self.points

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
            }
        )
        if concurrency_limit is not UNSET:
            field_dict["concurrency_limit"] = concurrency_limit
        if dataset_id is not UNSET:
            field_dict["dataset_id"] = dataset_id
        if datasets is not UNSET:
            field_dict["datasets"] = datasets
        if depends_on is not UNSET:
            field_dict["depends_on"] = depends_on
        if grid is not UNSET:
            field_dict["grid"] = grid
        if parameters is not UNSET:
            field_dict["parameters"] = parameters
        if points is not UNSET:
            field_dict["points"] = points
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
        from ..models.sweep_request_grid_type_0 import SweepRequestGridType0
        from ..models.sweep_request_parameters import SweepRequestParameters
        from ..models.sweep_request_points_type_0_item import (
            SweepRequestPointsType0Item,
        )

        d = dict(src_dict)
        agent = d.pop("agent")

        def _parse_concurrency_limit(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        concurrency_limit = _parse_concurrency_limit(d.pop("concurrency_limit", UNSET))

        def _parse_dataset_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        dataset_id = _parse_dataset_id(d.pop("dataset_id", UNSET))

        def _parse_datasets(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                datasets_type_0 = cast(list[str], data)

                return datasets_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        datasets = _parse_datasets(d.pop("datasets", UNSET))

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

        def _parse_grid(data: object) -> None | SweepRequestGridType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                grid_type_0 = SweepRequestGridType0.from_dict(data)

                return grid_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | SweepRequestGridType0 | Unset, data)

        grid = _parse_grid(d.pop("grid", UNSET))

        _parameters = d.pop("parameters", UNSET)
        parameters: SweepRequestParameters | Unset
        if isinstance(_parameters, Unset):
            parameters = UNSET
        else:
            parameters = SweepRequestParameters.from_dict(_parameters)

        def _parse_points(
            data: object,
        ) -> list[SweepRequestPointsType0Item] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                points_type_0 = []
                _points_type_0 = data
                for points_type_0_item_data in _points_type_0:
                    points_type_0_item = SweepRequestPointsType0Item.from_dict(
                        points_type_0_item_data
                    )

                    points_type_0.append(points_type_0_item)

                return points_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[SweepRequestPointsType0Item] | None | Unset, data)

        points = _parse_points(d.pop("points", UNSET))

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

        sweep_request = cls(
            agent=agent,
            concurrency_limit=concurrency_limit,
            dataset_id=dataset_id,
            datasets=datasets,
            depends_on=depends_on,
            grid=grid,
            parameters=parameters,
            points=points,
            resources=resources,
            retry=retry,
        )

        return sweep_request
