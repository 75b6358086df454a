"""Horizon's Python SDK.

`horizon_client` is generated from the API's OpenAPI document by
openapi-python-client (do not edit it: `scripts/sdk.sh generate`); this
module is the small layer a gateway's code wants on top of it: answers
checked into their types, errors raised as `HorizonError` carrying the
RFC 9457 problem, submit-and-wait, and a job's events as they happen
(Server-Sent Events, resumed with ``Last-Event-ID``).

    from horizon_sdk import Horizon

    horizon = Horizon("http://127.0.0.1:8080", token)
    job = horizon.submit_and_wait("AlphaCal", "galaxy-7", {"alpha": 0.3})
    for event in horizon.follow_events(job.id):
        print(event.event_type)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import TypeVar, Union
from uuid import UUID

import httpx
from httpx_sse import connect_sse

from horizon_client import AuthenticatedClient
from horizon_client.api.jobs import get_job, submit_job
from horizon_client.models import (
    JobCancelled,
    JobCompleted,
    JobDto,
    JobFailed,
    JobMetricsRecorded,
    JobQueued,
    JobRetryScheduled,
    JobRunning,
    JobStatusChanged,
    JobStatusDto,
    JobSubmitted,
    Problem,
    ResourcesDto,
    SubmitJobRequest,
    SubmitJobRequestParameters,
)
from horizon_client.types import UNSET, Response

__all__ = [
    "Horizon",
    "HorizonError",
    "JobEvent",
    "TERMINAL",
    "ok",
]

T = TypeVar("T")

JobEvent = Union[
    JobSubmitted,
    JobQueued,
    JobRunning,
    JobCompleted,
    JobFailed,
    JobCancelled,
    JobStatusChanged,
    JobMetricsRecorded,
    JobRetryScheduled,
]

#: The statuses a job never leaves.
TERMINAL = frozenset({JobStatusDto.COMPLETED, JobStatusDto.FAILED, JobStatusDto.CANCELLED})

_EVENT_TYPES: Mapping[str, type[JobEvent]] = {
    "job.submitted": JobSubmitted,
    "job.queued": JobQueued,
    "job.running": JobRunning,
    "job.completed": JobCompleted,
    "job.failed": JobFailed,
    "job.cancelled": JobCancelled,
    "job.status_changed": JobStatusChanged,
    "job.metrics_recorded": JobMetricsRecorded,
    "job.retry_scheduled": JobRetryScheduled,
}
_ENDS = frozenset({"job.completed", "job.failed", "job.cancelled"})


class HorizonError(Exception):
    """An answer other than the one asked for: its status and problem."""

    def __init__(self, status: int, problem: Problem | None, text: str = "") -> None:
        detail = problem.detail if problem is not None else text
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.problem = problem


def ok(response: Response[T | Problem] | Response[T | Problem | None], kind: type[T]) -> T:
    """The answer as `kind`, or `HorizonError` with the problem."""
    parsed = response.parsed
    if isinstance(parsed, kind) and 200 <= int(response.status_code) < 300:
        return parsed
    problem = parsed if isinstance(parsed, Problem) else None
    raise HorizonError(
        int(response.status_code), problem, response.content.decode(errors="replace")
    )


def parse_event(data: str) -> JobEvent | None:
    """One event envelope (JSON) as its type, or None for one this SDK
    does not know (a newer server's)."""
    value = json.loads(data)
    if not isinstance(value, dict):
        return None
    kind = _EVENT_TYPES.get(str(value.get("event_type")))
    return kind.from_dict(value) if kind is not None else None


class Horizon:
    """A client for one Horizon server, as one user (a token or a JWT).

    `client` is the generated client, for every route:
    ``horizon_client.api.jobs.list_jobs.sync_detailed(client=horizon.client, …)``.
    """

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.client = AuthenticatedClient(
            base_url=self.base_url, token=token, timeout=httpx.Timeout(timeout)
        )

    def submit(
        self,
        agent: str,
        dataset_id: str,
        parameters: Mapping[str, object] | None = None,
        resources: ResourcesDto | None = None,
    ) -> JobDto:
        """Submit a job; the job, SUBMITTED."""
        body = SubmitJobRequest(
            agent=agent,
            dataset_id=dataset_id,
            parameters=SubmitJobRequestParameters.from_dict(dict(parameters or {})),
            resources=resources if resources is not None else UNSET,
        )
        return ok(submit_job.sync_detailed(client=self.client, body=body), JobDto)

    def job(self, job_id: UUID | str) -> JobDto:
        return ok(get_job.sync_detailed(str(job_id), client=self.client), JobDto)

    def wait(self, job_id: UUID | str, poll: float = 0.5, timeout: float = 600.0) -> JobDto:
        """Poll until the job ends; the ended job."""
        deadline = time.monotonic() + timeout
        job = self.job(job_id)
        while job.status not in TERMINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status.value} after {timeout} s")
            time.sleep(poll)
            job = self.job(job_id)
        return job

    def submit_and_wait(
        self,
        agent: str,
        dataset_id: str,
        parameters: Mapping[str, object] | None = None,
        poll: float = 0.5,
        timeout: float = 600.0,
    ) -> JobDto:
        job = self.submit(agent, dataset_id, parameters)
        return self.wait(job.id, poll, timeout)

    def follow_events(
        self, job_id: UUID | str, last_event_id: str | None = None, attempts: int = 50
    ) -> Iterator[JobEvent]:
        """A job's events as they happen, until its terminal event. A dropped
        connection is resumed after the last event received, so none is
        missed or repeated."""
        after = last_event_id
        url = f"{self.base_url}/v1/jobs/{job_id}/events/stream"
        with httpx.Client(timeout=httpx.Timeout(30.0, read=None)) as http:
            for _ in range(attempts):
                headers = {"authorization": f"Bearer {self.token}"}
                if after is not None:
                    headers["last-event-id"] = after
                try:
                    with connect_sse(http, "GET", url, headers=headers) as source:
                        if source.response.status_code == 204:
                            return
                        if source.response.status_code != 200:
                            source.response.read()
                            raise HorizonError(
                                source.response.status_code, None, source.response.text
                            )
                        for sse in source.iter_sse():
                            if sse.event not in ("", "message") or not sse.data:
                                continue
                            event = parse_event(sse.data)
                            if event is None:
                                continue
                            after = sse.id
                            yield event
                            if event.event_type in _ENDS:
                                return
                except httpx.TransportError:
                    time.sleep(0.5)
        raise HorizonError(0, None, f"gave up following job {job_id}")
