// Every route of the API through the generated types and openapi-fetch,
// against a live server (crates/horizon/tests/sdk.rs starts it): no casts,
// no `any`. Exits non-zero on the first answer that is not as expected.
//   HORIZON_URL=… HORIZON_TOKEN=… HORIZON_ADMIN_TOKEN=… node dist/test/e2e.js
import { strict as assert } from "node:assert";
import {
  HorizonError,
  TERMINAL,
  createHorizonClient,
  followJobEvents,
  must,
  submitAndWait,
  type Job,
  type JobEvent,
} from "../src/index.js";

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set`);
  }
  return value;
}

const started = new Date().toISOString();
const since = new Date(Date.now() - 3_600_000).toISOString();
const baseUrl = env("HORIZON_URL");
const user = { baseUrl, token: env("HORIZON_TOKEN") };
const alice = createHorizonClient(user);
const admin = createHorizonClient({ baseUrl, token: env("HORIZON_ADMIN_TOKEN") });

async function waitFor(id: string, wanted: (job: Job) => boolean): Promise<Job> {
  for (let i = 0; i < 300; i++) {
    const job = must(await alice.GET("/v1/jobs/{id}", { params: { path: { id } } }));
    if (wanted(job)) {
      return job;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`job ${id} never got there`);
}

// operations
assert.equal((await alice.GET("/healthz", { parseAs: "text" })).response.status, 200);
assert.equal((await alice.GET("/readyz")).response.status, 200);
const metrics = await alice.GET("/metrics", { parseAs: "text" });
assert.ok(metrics.data?.includes("horizon_"));
const document = must(await alice.GET("/openapi.json"));
assert.ok(document !== null);

// agents
const agents = must(await alice.GET("/v1/agents"));
assert.ok(agents.agents.some((a) => a.name === "ok" && a.backend === "local"));

// per-agent statistics (filled in once jobs ran: checked again below)
must(await alice.GET("/v1/agents/stats"));

// submit with nested parameters, and wait
const parameters = { alpha: 0.25, grid: { x: [1, 2, 3], label: "ünïcode" }, flags: [true, null] };
const submitted = await alice.POST("/v1/jobs", {
  body: { agent: "ok", dataset_id: "sdk-ts", parameters, resources: { nodes: 1 } },
  headers: { "idempotency-key": `ts-${Date.now()}`, "x-correlation-id": "sdk-ts" },
});
const job = must(submitted);
assert.equal(submitted.response.status, 201);
assert.equal(submitted.response.headers.get("location"), `/v1/jobs/${job.id}`);
assert.deepEqual(job.parameters, parameters);
assert.equal(job.status, "SUBMITTED");
const done = await waitFor(job.id, (j) => TERMINAL.includes(j.status));
assert.equal(done.status, "COMPLETED");
assert.equal(done.exit_code, 0);
assert.ok(done.queued_at !== null && done.queued_at !== undefined);
const waited = await submitAndWait(alice, { agent: "ok", dataset_id: "sdk-ts-2", parameters: {} }, { pollMs: 100 });
assert.equal(waited.status, "COMPLETED");

// a sweep: a grid of 3 points in one request, each an ordinary job
const sweep = must(
  await alice.POST("/v1/sweeps", {
    body: { agent: "ok", dataset_id: "sdk-ts-sweep", grid: { n: [1, 2, 3] }, concurrency_limit: 2 },
  }),
);
assert.equal(sweep.size, 3);
assert.equal(sweep.counts.SUBMITTED, 3);
const points = must(await alice.GET("/v1/jobs", { params: { query: { sweep_id: sweep.id } } }));
assert.deepEqual(points.jobs.map((j) => j.sweep_index).sort(), [0, 1, 2]);
for (const point of points.jobs) {
  await waitFor(point.id, (j) => TERMINAL.includes(j.status));
}
for (let tries = 0; ; tries++) {
  const now = must(await alice.GET("/v1/sweeps/{id}", { params: { path: { id: sweep.id } } }));
  if (now.completed_at !== null && now.completed_at !== undefined) {
    assert.equal(now.counts.COMPLETED, 3);
    break;
  }
  assert.ok(tries < 300, "the sweep completes");
  await new Promise((r) => setTimeout(r, 100));
}

const stats = must(await alice.GET("/v1/agents/stats", { params: { query: { since } } }));
const ok = stats.agents.find((a) => a.agent === "ok");
assert.ok(ok !== undefined && ok.by_status.COMPLETED >= 2, JSON.stringify(stats));
assert.equal(ok.success_rate, 1);
assert.ok(ok.run_seconds !== null && ok.run_seconds !== undefined && ok.run_seconds.p95 >= ok.run_seconds.p50);

// its events, paged, typed by event_type
const firstPage = must(
  await alice.GET("/v1/jobs/{id}/events", { params: { path: { id: job.id }, query: { limit: 2 } } }),
);
assert.equal(firstPage.events.length, 2);
assert.ok(firstPage.next_after !== null && firstPage.next_after !== undefined);
const rest = must(
  await alice.GET("/v1/jobs/{id}/events", {
    params: { path: { id: job.id }, query: { after: firstPage.next_after, limit: 1000 } },
  }),
);
const all: JobEvent[] = [...firstPage.events, ...rest.events];
const types = all.filter((e) => e.event_type !== "job.metrics_recorded").map((e) => e.event_type);
assert.deepEqual(types, ["job.submitted", "job.queued", "job.running", "job.completed"]);
for (const event of all) {
  if (event.event_type === "job.completed") {
    assert.equal(event.payload.exit_code, 0); // narrowed by the discriminator
  }
  if (event.event_type === "job.submitted") {
    assert.deepEqual(event.payload.parameters, parameters);
  }
}
assert.deepEqual(rest.streams.length, rest.events.length);

// the same events, live
const streamed: string[] = [];
for await (const { event } of followJobEvents(user, job.id)) {
  streamed.push(event.event_id);
}
assert.deepEqual(streamed, all.map((e) => e.event_id));

// logs
const logs = await alice.GET("/v1/jobs/{id}/logs", {
  params: { path: { id: job.id }, query: { stream: "stdout", tail: 10 } },
  parseAs: "text",
});
assert.equal(logs.response.status, 200);
assert.ok(logs.response.headers.get("x-log-size") !== null);

// list with every filter, and paging
const filtered = must(
  await alice.GET("/v1/jobs", {
    params: {
      query: {
        status: "COMPLETED,FAILED",
        agent: "ok",
        dataset_id: "sdk-ts",
        created_after: since,
        created_before: new Date(Date.now() + 60_000).toISOString(),
        user: "alice",
        limit: 10,
      },
    },
  }),
);
assert.deepEqual(filtered.jobs.map((j) => j.id), [job.id]);
const page1 = must(await alice.GET("/v1/jobs", { params: { query: { limit: 1 } } }));
assert.ok(page1.next_cursor !== null && page1.next_cursor !== undefined);
const page2 = must(await alice.GET("/v1/jobs", { params: { query: { limit: 1, cursor: page1.next_cursor } } }));
assert.notEqual(page2.jobs[0]?.id, page1.jobs[0]?.id);

// cancel with a body, and without one
for (const withBody of [true, false]) {
  const sleeping = must(await alice.POST("/v1/jobs", { body: { agent: "sleep", dataset_id: "sdk-ts", parameters: { seconds: 60 } } }));
  await waitFor(sleeping.id, (j) => j.status === "RUNNING");
  const cancelled = withBody
    ? must(await alice.POST("/v1/jobs/{id}/cancel", { params: { path: { id: sleeping.id } }, body: { reason: "from TypeScript" } }))
    : must(await alice.POST("/v1/jobs/{id}/cancel", { params: { path: { id: sleeping.id } } }));
  assert.equal(cancelled.status, "CANCELLED");
}

// clone with an override; hold and release are refused for a running job
const cloned = must(
  await alice.POST("/v1/jobs/{id}/clone", { params: { path: { id: job.id } }, body: { dataset_id: "sdk-ts-2", parameters: { seconds: 0.1 } } }),
);
assert.equal(cloned.cloned_from, job.id);
assert.equal(cloned.dataset_id, "sdk-ts-2");
{
  const sleeping = must(await alice.POST("/v1/jobs", { body: { agent: "sleep", dataset_id: "sdk-ts", parameters: { seconds: 60 } } }));
  await waitFor(sleeping.id, (j) => j.status === "RUNNING");
  const held = await alice.POST("/v1/jobs/{id}/hold", { params: { path: { id: sleeping.id } }, body: { reason: "ts" } });
  assert.equal(held.response.status, 409);
  const released = await alice.POST("/v1/jobs/{id}/release", { params: { path: { id: sleeping.id } } });
  assert.equal(released.response.status, 409);
  must(await alice.POST("/v1/jobs/{id}/cancel", { params: { path: { id: sleeping.id } } }));
}

// errors are problems
try {
  must(await alice.GET("/v1/jobs/{id}", { params: { path: { id: "01234567-89ab-7def-8123-456789abcdef" } } }));
  assert.fail("a missing job is a 404");
} catch (error) {
  assert.ok(error instanceof HorizonError);
  assert.equal(error.status, 404);
  assert.equal(error.problem.status, 404);
}
const refused = await alice.GET("/v1/audit", {});
assert.equal(refused.response.status, 403);

// subscriptions
const subscription = must(
  await alice.POST("/v1/subscriptions", {
    body: { url: "http://127.0.0.1:9/hooks/horizon", event_types: ["job.completed"] },
  }),
);
assert.ok(subscription.secret?.startsWith("whsec_"));
const subscriptions = must(await alice.GET("/v1/subscriptions"));
assert.ok(subscriptions.subscriptions.some((s) => s.id === subscription.id));
must(await alice.GET("/v1/subscriptions/{id}", { params: { path: { id: subscription.id } } }));
must(await alice.POST("/v1/subscriptions/{id}/rotate", { params: { path: { id: subscription.id } } }));
must(await alice.POST("/v1/subscriptions/{id}/enable", { params: { path: { id: subscription.id } } }));
const deliveries = must(await alice.GET("/v1/subscriptions/{id}/deliveries", { params: { path: { id: subscription.id } } }));
assert.ok(Array.isArray(deliveries.deliveries));
const redeliver = await alice.POST("/v1/subscriptions/{id}/redeliver", {
  params: { path: { id: subscription.id } },
  body: { from: "01234567-89ab-7def-8123-456789abcdef" },
});
assert.ok([200, 404].includes(redeliver.response.status));
const deleted = await alice.DELETE("/v1/subscriptions/{id}", { params: { path: { id: subscription.id } } });
assert.equal(deleted.response.status, 204);

// admin: tokens, audit, parked events, replay, host gone
const token = must(await admin.POST("/v1/admin/tokens", { body: { user_id: "sdk-ts-user", expires_in_seconds: 86_400 } }));
const tokens = must(await admin.GET("/v1/admin/tokens"));
assert.ok(tokens.tokens.some((t) => t.id === token.id));
assert.equal((await admin.DELETE("/v1/admin/tokens/{id}", { params: { path: { id: token.id } } })).response.status, 204);
const audit = must(
  await admin.GET("/v1/audit", { params: { query: { action: "job.cancel", actor: "alice", outcome: "allowed", since: started, limit: 100 } } }),
);
assert.equal(audit.records.length, 3);
for (const record of audit.records) {
  assert.equal(record.action, "job.cancel");
}
const parked = must(await admin.GET("/v1/admin/parked-events"));
const view = must(await admin.GET("/v1/admin/cluster"));
assert.ok(view.processes.some((p) => p.this_process), `cluster: ${JSON.stringify(view)}`);
assert.ok(Array.isArray(parked.events));
must(await admin.POST("/v1/admin/parked-events/retry"));
must(await admin.POST("/v1/admin/parked-events/retry", { body: { job_id: job.id } }));
const replay = await admin.POST("/v1/admin/events/replay", { body: { job_id: job.id } });
assert.ok([202, 409].includes(replay.response.status), `replay: ${replay.response.status}`);
const gone = await admin.POST("/v1/admin/hosts/{host}/gone", { params: { path: { host: "no-such-host" } } });
assert.ok([200, 422].includes(gone.response.status), `host gone: ${gone.response.status}`);

console.log("typescript e2e: ok");
