from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..models.backend_dto import BackendDto
from ..models.job_status_dto import JobStatusDto
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.dependency_dto import DependencyDto
    from ..models.job_dto_parameters import JobDtoParameters
    from ..models.job_error_dto import JobErrorDto
    from ..models.resources_dto import ResourcesDto


T = TypeVar("T", bound="JobDto")


@_attrs_define
class JobDto:
    """A job, as the API shows it.

    Attributes:
        agent (str):
        attempt (int): Which run this is, from 1 (a retry's attempts count on).
        backend (BackendDto): Where a job runs.
        correlation_id (str):
        created_at (datetime.datetime): RFC 3339 UTC
        dataset_id (str):
        depends_on (list[DependencyDto]): The jobs it runs after.
        gated (bool): Held back in SUBMITTED by its sweep's concurrency limit: it is
            handed over once fewer than the limit of the sweep's jobs run.
        held (bool): Held back before it started (`POST /v1/jobs/{id}/hold`): it waits
            until released.
        id (UUID):
        max_attempts (int): The most attempts its retry policy allows (1: none).
        parameters (JobDtoParameters):
        resources (ResourcesDto): A job's resources. A field left out (or null) means the backend's default.
        status (JobStatusDto): A job's status.
        updated_at (datetime.datetime):
        user_id (str):
        waiting (bool): Waiting in SUBMITTED for its dependencies.
        account (None | str | Unset): Whom the cluster charges the job to (a Slurm account), when the
            server's identity mapping chose one for its submitter.
        cloned_from (None | Unset | UUID): The job this one was cloned from.
        clones (list[str] | None | Unset): The jobs cloned from this one that the caller may see, oldest first
            (at most 100; `GET /v1/jobs?cloned_from=` lists them all). Only on
            `GET /v1/jobs/{id}`.
        ended_at (datetime.datetime | None | Unset): When it ended (COMPLETED, FAILED or CANCELLED); the same as
            `finished_at`, kept for older clients.
        error (JobErrorDto | None | Unset):
        exit_code (int | None | Unset): The program's exit code once it ended with one: 0 for a success,
            the code of a NONZERO_EXIT; null while it runs, and for a job that
            never ran or that its scheduler ended.
        finished_at (datetime.datetime | None | Unset):
        next_attempt_at (datetime.datetime | None | Unset): While it waits for its next attempt (QUEUED after a retry):
            when
            that attempt is handed over.
        queued_at (datetime.datetime | None | Unset): When its backend accepted it (QUEUED): the queue wait is
            `started_at - queued_at`.
        remote_job_id (None | str | Unset):
        scheduler_dependency (None | str | Unset): Its dependencies as handed to its scheduler with it (Slurm's
            `--dependency`, e.g. `afterok:1234`): the scheduler starts it once
            they are met, and Horizon cancels it if one never can be.
        started_at (datetime.datetime | None | Unset):
        sweep_id (None | Unset | UUID): The sweep it is a point of (`POST /v1/sweeps`), and which point
            (from 0).
        sweep_index (int | None | Unset):
        traceparent (None | str | Unset): The W3C `traceparent` the submission came with (its events carry it).
        waiting_on (list[str] | None | Unset): While it waits: the jobs whose condition is not met yet. Only on
            `GET /v1/jobs/{id}`.
    """

    agent: str
    attempt: int
    backend: BackendDto
    correlation_id: str
    created_at: datetime.datetime
    dataset_id: str
    depends_on: list[DependencyDto]
    gated: bool
    held: bool
    id: UUID
    max_attempts: int
    parameters: JobDtoParameters
    resources: ResourcesDto
    status: JobStatusDto
    updated_at: datetime.datetime
    user_id: str
    waiting: bool
    account: None | str | Unset = UNSET
    cloned_from: None | Unset | UUID = UNSET
    clones: list[str] | None | Unset = UNSET
    ended_at: datetime.datetime | None | Unset = UNSET
    error: JobErrorDto | None | Unset = UNSET
    exit_code: int | None | Unset = UNSET
    finished_at: datetime.datetime | None | Unset = UNSET
    next_attempt_at: datetime.datetime | None | Unset = UNSET
    queued_at: datetime.datetime | None | Unset = UNSET
    remote_job_id: None | str | Unset = UNSET
    scheduler_dependency: None | str | Unset = UNSET
    started_at: datetime.datetime | None | Unset = UNSET
    sweep_id: None | Unset | UUID = UNSET
    sweep_index: int | None | Unset = UNSET
    traceparent: None | str | Unset = UNSET
    waiting_on: list[str] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.job_error_dto import JobErrorDto

        agent = self.agent

        attempt = self.attempt

        backend = self.backend.value

        correlation_id = self.correlation_id

        created_at = self.created_at.isoformat()

        dataset_id = self.dataset_id

        depends_on = []
        for depends_on_item_data in self.depends_on:
            depends_on_item = depends_on_item_data.to_dict()
            depends_on.append(depends_on_item)

        gated = self.gated

        held = self.held

        id = str(self.id)

        max_attempts = self.max_attempts

        parameters = self.parameters.to_dict()

        resources = self.resources.to_dict()

        status = self.status.value

        updated_at = self.updated_at.isoformat()

        user_id = self.user_id

        waiting = self.waiting

        account: None | str | Unset
        if isinstance(self.account, Unset):
            account = UNSET
        else:
            account = self.account

        cloned_from: None | str | Unset
        if isinstance(self.cloned_from, Unset):
            cloned_from = UNSET
        elif isinstance(self.cloned_from, UUID):
            cloned_from = str(self.cloned_from)
        else:
            cloned_from = self.cloned_from

        clones: list[str] | None | Unset
        if isinstance(self.clones, Unset):
            clones = UNSET
        elif isinstance(self.clones, list):
            clones = self.clones

        else:
            clones = self.clones

        ended_at: None | str | Unset
        if isinstance(self.ended_at, Unset):
            ended_at = UNSET
        elif isinstance(self.ended_at, datetime.datetime):
            ended_at = self.ended_at.isoformat()
        else:
            ended_at = self.ended_at

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, JobErrorDto):
            error = self.error.to_dict()
        else:
            error = self.error

        exit_code: int | None | Unset
        if isinstance(self.exit_code, Unset):
            exit_code = UNSET
        else:
            exit_code = self.exit_code

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        elif isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        next_attempt_at: None | str | Unset
        if isinstance(self.next_attempt_at, Unset):
            next_attempt_at = UNSET
        elif isinstance(self.next_attempt_at, datetime.datetime):
            next_attempt_at = self.next_attempt_at.isoformat()
        else:
            next_attempt_at = self.next_attempt_at

        queued_at: None | str | Unset
        if isinstance(self.queued_at, Unset):
            queued_at = UNSET
        elif isinstance(self.queued_at, datetime.datetime):
            queued_at = self.queued_at.isoformat()
        else:
            queued_at = self.queued_at

        remote_job_id: None | str | Unset
        if isinstance(self.remote_job_id, Unset):
            remote_job_id = UNSET
        else:
            remote_job_id = self.remote_job_id

        scheduler_dependency: None | str | Unset
        if isinstance(self.scheduler_dependency, Unset):
            scheduler_dependency = UNSET
        else:
            scheduler_dependency = self.scheduler_dependency

        started_at: None | str | Unset
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        elif isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        sweep_id: None | str | Unset
        if isinstance(self.sweep_id, Unset):
            sweep_id = UNSET
        elif isinstance(self.sweep_id, UUID):
            sweep_id = str(self.sweep_id)
        else:
            sweep_id = self.sweep_id

        sweep_index: int | None | Unset
        if isinstance(self.sweep_index, Unset):
            sweep_index = UNSET
        else:
            sweep_index = self.sweep_index

        traceparent: None | str | Unset
        if isinstance(self.traceparent, Unset):
            traceparent = UNSET
        else:
            traceparent = self.traceparent

        waiting_on: list[str] | None | Unset
        if isinstance(self.waiting_on, Unset):
            waiting_on = UNSET
        elif isinstance(self.waiting_on, list):
            waiting_on = self.waiting_on

        else:
            waiting_on = self.waiting_on

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agent": agent,
                "attempt": attempt,
                "backend": backend,
                "correlation_id": correlation_id,
                "created_at": created_at,
                "dataset_id": dataset_id,
                "depends_on": depends_on,
                "gated": gated,
                "held": held,
                "id": id,
                "max_attempts": max_attempts,
                "parameters": parameters,
                "resources": resources,
                "status": status,
                "updated_at": updated_at,
                "user_id": user_id,
                "waiting": waiting,
            }
        )
        if account is not UNSET:
            field_dict["account"] = account
        if cloned_from is not UNSET:
            field_dict["cloned_from"] = cloned_from
        if clones is not UNSET:
            field_dict["clones"] = clones
        if ended_at is not UNSET:
            field_dict["ended_at"] = ended_at
        if error is not UNSET:
            field_dict["error"] = error
        if exit_code is not UNSET:
            field_dict["exit_code"] = exit_code
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if next_attempt_at is not UNSET:
            field_dict["next_attempt_at"] = next_attempt_at
        if queued_at is not UNSET:
            field_dict["queued_at"] = queued_at
        if remote_job_id is not UNSET:
            field_dict["remote_job_id"] = remote_job_id
        if scheduler_dependency is not UNSET:
            field_dict["scheduler_dependency"] = scheduler_dependency
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if sweep_id is not UNSET:
            field_dict["sweep_id"] = sweep_id
        if sweep_index is not UNSET:
            field_dict["sweep_index"] = sweep_index
        if traceparent is not UNSET:
            field_dict["traceparent"] = traceparent
        if waiting_on is not UNSET:
            field_dict["waiting_on"] = waiting_on

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.dependency_dto import DependencyDto
        from ..models.job_dto_parameters import JobDtoParameters
        from ..models.job_error_dto import JobErrorDto
        from ..models.resources_dto import ResourcesDto

        d = dict(src_dict)
        agent = d.pop("agent")

        attempt = d.pop("attempt")

        backend = BackendDto(d.pop("backend"))

        correlation_id = d.pop("correlation_id")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        dataset_id = d.pop("dataset_id")

        depends_on = []
        _depends_on = d.pop("depends_on")
        for depends_on_item_data in _depends_on:
            depends_on_item = DependencyDto.from_dict(depends_on_item_data)

            depends_on.append(depends_on_item)

        gated = d.pop("gated")

        held = d.pop("held")

        id = UUID(d.pop("id"))

        max_attempts = d.pop("max_attempts")

        parameters = JobDtoParameters.from_dict(d.pop("parameters"))

        resources = ResourcesDto.from_dict(d.pop("resources"))

        status = JobStatusDto(d.pop("status"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        user_id = d.pop("user_id")

        waiting = d.pop("waiting")

        def _parse_account(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        account = _parse_account(d.pop("account", UNSET))

        def _parse_cloned_from(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                cloned_from_type_0 = UUID(data)

                return cloned_from_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        cloned_from = _parse_cloned_from(d.pop("cloned_from", UNSET))

        def _parse_clones(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                clones_type_0 = cast(list[str], data)

                return clones_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        clones = _parse_clones(d.pop("clones", UNSET))

        def _parse_ended_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                ended_at_type_0 = datetime.datetime.fromisoformat(data)

                return ended_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        ended_at = _parse_ended_at(d.pop("ended_at", UNSET))

        def _parse_error(data: object) -> JobErrorDto | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = JobErrorDto.from_dict(data)

                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(JobErrorDto | None | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_exit_code(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        exit_code = _parse_exit_code(d.pop("exit_code", UNSET))

        def _parse_finished_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))

        def _parse_next_attempt_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                next_attempt_at_type_0 = datetime.datetime.fromisoformat(data)

                return next_attempt_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        next_attempt_at = _parse_next_attempt_at(d.pop("next_attempt_at", UNSET))

        def _parse_queued_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                queued_at_type_0 = datetime.datetime.fromisoformat(data)

                return queued_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        queued_at = _parse_queued_at(d.pop("queued_at", UNSET))

        def _parse_remote_job_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        remote_job_id = _parse_remote_job_id(d.pop("remote_job_id", UNSET))

        def _parse_scheduler_dependency(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        scheduler_dependency = _parse_scheduler_dependency(
            d.pop("scheduler_dependency", UNSET)
        )

        def _parse_started_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        started_at = _parse_started_at(d.pop("started_at", UNSET))

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

        def _parse_sweep_index(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        sweep_index = _parse_sweep_index(d.pop("sweep_index", UNSET))

        def _parse_traceparent(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        traceparent = _parse_traceparent(d.pop("traceparent", UNSET))

        def _parse_waiting_on(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                waiting_on_type_0 = cast(list[str], data)

                return waiting_on_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        waiting_on = _parse_waiting_on(d.pop("waiting_on", UNSET))

        job_dto = cls(
            agent=agent,
            attempt=attempt,
            backend=backend,
            correlation_id=correlation_id,
            created_at=created_at,
            dataset_id=dataset_id,
            depends_on=depends_on,
            gated=gated,
            held=held,
            id=id,
            max_attempts=max_attempts,
            parameters=parameters,
            resources=resources,
            status=status,
            updated_at=updated_at,
            user_id=user_id,
            waiting=waiting,
            account=account,
            cloned_from=cloned_from,
            clones=clones,
            ended_at=ended_at,
            error=error,
            exit_code=exit_code,
            finished_at=finished_at,
            next_attempt_at=next_attempt_at,
            queued_at=queued_at,
            remote_job_id=remote_job_id,
            scheduler_dependency=scheduler_dependency,
            started_at=started_at,
            sweep_id=sweep_id,
            sweep_index=sweep_index,
            traceparent=traceparent,
            waiting_on=waiting_on,
        )

        job_dto.additional_properties = d
        return job_dto

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
