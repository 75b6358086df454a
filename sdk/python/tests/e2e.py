"""Every route of the API through the generated client and the SDK layer,
against a live server (crates/horizon/tests/sdk.rs starts it). Typed: mypy
--strict passes on this file, with no cast and no Any.

    HORIZON_URL=… HORIZON_TOKEN=… HORIZON_ADMIN_TOKEN=… python3 tests/e2e.py
"""

from __future__ import annotations

import datetime
import os
import time
import uuid

from horizon_client.api.admin import (
    cluster,
    create_token,
    host_gone,
    list_audit,
    list_tokens,
    parked_events,
    retry_parked,
    revoke_token,
    start_replay,
)
from horizon_client.api.jobs import (
    agent_stats,
    cancel_job,
    clone_job,
    hold_job,
    release_job,
    get_job,
    job_events,
    job_logs,
    list_agents,
    list_jobs,
    submit_job,
    submit_sweep,
    get_sweep,
)
from horizon_client.api.operations import healthz, metrics_text, readyz
from horizon_client.api.webhooks import (
    create_subscription,
    delete_subscription,
    enable_subscription,
    get_subscription,
    list_deliveries,
    list_subscriptions,
    redeliver,
    rotate_secret,
)
from horizon_client.models import (
    AgentListDto,
    AgentStatsListDto,
    AuditListDto,
    CancelJobRequest,
    CloneJobRequest,
    CloneJobRequestParametersType0,
    ClusterDto,
    HoldJobRequest,
    CreatedTokenDto,
    CreateSubscriptionRequest,
    CreateTokenRequest,
    DeliveryListDto,
    EventListDto,
    JobCompleted,
    JobDto,
    JobListDto,
    JobStatusDto,
    JobSubmitted,
    ParkedListDto,
    Problem,
    RedeliverRequest,
    ReplayRequestDto,
    RetryParkedDto,
    RetryParkedRequest,
    SubmitJobRequest,
    SweepDto,
    SweepRequest,
    SweepRequestGridType0,
    SubmitJobRequestParameters,
    SubscriptionDto,
    SubscriptionListDto,
    TokenListDto,
)
from horizon_sdk import TERMINAL, Horizon, HorizonError, JobEvent, ok


def env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"{name} is not set")
    return value


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


started = datetime.datetime.now(datetime.timezone.utc)
base_url = env("HORIZON_URL")
horizon = Horizon(base_url, env("HORIZON_TOKEN"))
root = Horizon(base_url, env("HORIZON_ADMIN_TOKEN"))
alice, admin = horizon.client, root.client


def wait_until(job_id: uuid.UUID, status: JobStatusDto) -> JobDto:
    for _ in range(300):
        job = horizon.job(job_id)
        if job.status == status or job.status in TERMINAL:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never became {status.value}")


# operations
check(healthz.sync_detailed(client=alice).status_code == 200, "healthz")
check(readyz.sync_detailed(client=alice).status_code == 200, "readyz")
check(b"horizon_" in metrics_text.sync_detailed(client=alice).content, "metrics")

# agents
agents = ok(list_agents.sync_detailed(client=alice), AgentListDto)
check(any(a.name == "ok" for a in agents.agents), "agent ok")

# submit with nested parameters; wait
parameters: dict[str, object] = {
    "alpha": 0.25,
    "grid": {"x": [1, 2, 3], "label": "ünïcode"},
    "flags": [True, None],
}
submitted = submit_job.sync_detailed(
    client=alice,
    body=SubmitJobRequest(
        agent="ok",
        dataset_id="sdk-py",
        parameters=SubmitJobRequestParameters.from_dict(parameters),
    ),
)
job = ok(submitted, JobDto)
check(submitted.status_code == 201, "201")
check(submitted.headers.get("location") == f"/v1/jobs/{job.id}", "Location")
check(job.parameters.to_dict() == parameters, f"parameters: {job.parameters.to_dict()}")
done = horizon.wait(job.id, poll=0.1)
check(done.status == JobStatusDto.COMPLETED, f"status {done.status}")
check(done.exit_code == 0, f"exit code {done.exit_code!r}")
check(isinstance(done.queued_at, datetime.datetime), "queued_at is a time")
waited = horizon.submit_and_wait("ok", "sdk-py-2", {}, poll=0.1)
check(waited.status == JobStatusDto.COMPLETED, "submit_and_wait")

# a sweep: a grid of 3 points in one request, each an ordinary job
swept_made = ok(
    submit_sweep.sync_detailed(
        client=alice,
        body=SweepRequest(
            agent="ok",
            dataset_id="sdk-py-sweep",
            grid=SweepRequestGridType0.from_dict({"n": [1, 2, 3]}),
            concurrency_limit=2,
        ),
    ),
    SweepDto,
)
check(
    swept_made.size == 3 and swept_made.counts.to_dict()["SUBMITTED"] == 3,
    f"sweep {swept_made.to_dict()}",
)
points = ok(list_jobs.sync_detailed(client=alice, sweep_id=swept_made.id), JobListDto)
check(sorted(j.sweep_index for j in points.jobs if isinstance(j.sweep_index, int)) == [0, 1, 2], "indexes")
for point in points.jobs:
    horizon.wait(point.id, poll=0.1)
deadline = time.monotonic() + 30
while (swept := ok(get_sweep.sync_detailed(str(swept_made.id), client=alice), SweepDto)).completed_at is None:
    check(time.monotonic() < deadline, "the sweep completes")
    time.sleep(0.1)
check(swept.counts.to_dict()["COMPLETED"] == 3, f"sweep counts {swept.counts.to_dict()}")

# per-agent statistics: this run's two jobs of `ok` at least
stats = ok(agent_stats.sync_detailed(client=alice, since=started), AgentStatsListDto)
of_ok = [a for a in stats.agents if a.agent == "ok"]
check(len(of_ok) == 1 and of_ok[0].by_status.completed >= 2, f"stats {stats.to_dict()}")
check(of_ok[0].success_rate == 1.0, "success rate")

# events, paged and typed
first = ok(job_events.sync_detailed(str(job.id), client=alice, limit=2), EventListDto)
check(len(first.events) == 2, "first page")
if not isinstance(first.next_after, uuid.UUID):
    raise AssertionError(f"no next page: {first.next_after!r}")
rest = ok(
    job_events.sync_detailed(str(job.id), client=alice, after=first.next_after, limit=1000),
    EventListDto,
)
events: list[JobEvent] = [*first.events, *rest.events]
lifecycle = [e.event_type for e in events if e.event_type != "job.metrics_recorded"]
check(
    lifecycle == ["job.submitted", "job.queued", "job.running", "job.completed"],
    f"lifecycle {lifecycle}",
)
for event in events:
    if isinstance(event, JobCompleted):
        check(event.payload.exit_code == 0, "completed exit code")
    if isinstance(event, JobSubmitted):
        check(event.payload.parameters.to_dict() == parameters, "submitted parameters")

# the same, live
streamed = [e.event_id for e in horizon.follow_events(job.id)]
check(streamed == [e.event_id for e in events], f"streamed {len(streamed)} of {len(events)}")

# logs
logs = job_logs.sync_detailed(str(job.id), client=alice, stream="stdout", tail=10)
check(logs.status_code == 200 and "x-log-size" in logs.headers, "logs")

# list: every filter, and paging
page = ok(
    list_jobs.sync_detailed(
        client=alice,
        status="COMPLETED,FAILED",
        user="alice",
        agent="ok",
        dataset_id="sdk-py",
        created_after=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1),
        created_before=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1),
        limit=10,
    ),
    JobListDto,
)
check([j.id for j in page.jobs] == [job.id], "filtered list")
one = ok(list_jobs.sync_detailed(client=alice, limit=1), JobListDto)
check(isinstance(one.next_cursor, uuid.UUID), "a cursor")
if isinstance(one.next_cursor, uuid.UUID):
    two = ok(list_jobs.sync_detailed(client=alice, limit=1, cursor=one.next_cursor), JobListDto)
    check(two.jobs[0].id != one.jobs[0].id, "the next page")

# cancel with a body and without
for with_body in (True, False):
    sleeping = horizon.submit("sleep", "sdk-py", {"seconds": 60})
    wait_until(sleeping.id, JobStatusDto.RUNNING)
    if with_body:
        answer = cancel_job.sync_detailed(
            str(sleeping.id), client=alice, body=CancelJobRequest(reason="from Python")
        )
    else:
        answer = cancel_job.sync_detailed(str(sleeping.id), client=alice)
    check(ok(answer, JobDto).status == JobStatusDto.CANCELLED, "cancelled")

# clone with an override; hold and release are refused for a running job
overrides = CloneJobRequestParametersType0.from_dict({"seconds": 0.1})
cloned = ok(
    clone_job.sync_detailed(
        str(job.id), client=alice, body=CloneJobRequest(dataset_id="sdk-py-2", parameters=overrides)
    ),
    JobDto,
)
check(str(cloned.cloned_from) == str(job.id), f"cloned from {cloned.cloned_from}")
check(cloned.dataset_id == "sdk-py-2", "the clone's dataset")
sleeping = horizon.submit("sleep", "sdk-py", {"seconds": 60})
wait_until(sleeping.id, JobStatusDto.RUNNING)
not_held = hold_job.sync_detailed(str(sleeping.id), client=alice, body=HoldJobRequest(reason="py"))
check(not_held.status_code == 409 and isinstance(not_held.parsed, Problem), f"hold {not_held.status_code}")
not_held = release_job.sync_detailed(str(sleeping.id), client=alice)
check(not_held.status_code == 409, f"release {not_held.status_code}")
cancel_job.sync_detailed(str(sleeping.id), client=alice)

# errors are problems
try:
    horizon.job(uuid.uuid4())
    raise AssertionError("a missing job is a 404")
except HorizonError as error:
    check(error.status == 404 and isinstance(error.problem, Problem), "404 problem")
refused = list_audit.sync_detailed(client=alice)
check(refused.status_code == 403 and isinstance(refused.parsed, Problem), "403")

# subscriptions
subscription = ok(
    create_subscription.sync_detailed(
        client=alice,
        body=CreateSubscriptionRequest(
            url="http://127.0.0.1:9/hooks/horizon", event_types=["job.completed"]
        ),
    ),
    SubscriptionDto,
)
sid = str(subscription.id)
subscriptions = ok(list_subscriptions.sync_detailed(client=alice), SubscriptionListDto)
check(any(s.id == subscription.id for s in subscriptions.subscriptions), "listed")
ok(get_subscription.sync_detailed(sid, client=alice), SubscriptionDto)
ok(rotate_secret.sync_detailed(sid, client=alice), SubscriptionDto)
ok(enable_subscription.sync_detailed(sid, client=alice), SubscriptionDto)
ok(list_deliveries.sync_detailed(sid, client=alice), DeliveryListDto)
again = redeliver.sync_detailed(sid, client=alice, body=RedeliverRequest(from_=uuid.uuid4()))
check(again.status_code in (200, 404), f"redeliver {again.status_code}")
check(delete_subscription.sync_detailed(sid, client=alice).status_code == 204, "deleted")

# admin routes
made = ok(
    create_token.sync_detailed(
        client=admin, body=CreateTokenRequest(user_id="sdk-py-user", expires_in_seconds=86_400)
    ),
    CreatedTokenDto,
)
tokens = ok(list_tokens.sync_detailed(client=admin), TokenListDto)
check(any(t.id == made.id for t in tokens.tokens), "token listed")
check(revoke_token.sync_detailed(made.id, client=admin).status_code == 204, "revoked")
trail = ok(
    list_audit.sync_detailed(
        client=admin,
        action="job.cancel",
        actor="alice",
        outcome="allowed",
        since=started,
        limit=100,
    ),
    AuditListDto,
)
check(len(trail.records) == 3, f"{len(trail.records)} cancels on the trail")
check(all(r.action == "job.cancel" for r in trail.records), "audit actions")
ok(parked_events.sync_detailed(client=admin), ParkedListDto)
view = ok(cluster.sync_detailed(client=admin), ClusterDto)
check(any(p.this_process for p in view.processes), f"cluster: {view}")
ok(retry_parked.sync_detailed(client=admin), RetryParkedDto)
ok(retry_parked.sync_detailed(client=admin, body=RetryParkedRequest(job_id=job.id)), RetryParkedDto)
replay = start_replay.sync_detailed(client=admin, body=ReplayRequestDto(job_id=job.id))
check(replay.status_code in (202, 409), f"replay {replay.status_code}")
gone = host_gone.sync_detailed("no-such-host", client=admin)
check(gone.status_code in (200, 422), f"host gone {gone.status_code}")

print("python e2e: ok")
