// One job, live: its status and times, resources, exit code or error, the
// timeline of its events as they arrive (GET /v1/jobs/{id}/events/stream),
// its log as it is written (GET /v1/jobs/{id}/logs/stream), and its actions:
// cancel, hold/release before it starts, clone.
import { useEffect, useState } from "preact/hooks";
import { MetricsChart } from "./chart";
import { TERMINAL, between, explain, follow, parseEvent, when, type Api, type Job, type JobEvent } from "./api";

function LogTail({ token, id }: { token: string; id: string }) {
  const [stream, setStream] = useState<"stdout" | "stderr">("stdout");
  const [text, setText] = useState("");
  const [ended, setEnded] = useState(false);
  useEffect(() => {
    setText("");
    setEnded(false);
    const stop = new AbortController();
    void follow(
      `/v1/jobs/${id}/logs/stream?stream=${stream}`,
      token,
      (message) => {
        if (message.event === "end") {
          setEnded(true);
          return;
        }
        try {
          const chunk: unknown = JSON.parse(message.data);
          if (typeof chunk === "object" && chunk !== null && "text" in chunk && typeof chunk.text === "string") {
            const more = chunk.text;
            // keep the last 200 KiB on screen
            setText((current) => (current + more).slice(-200_000));
          }
        } catch {
          // a heartbeat or something new: nothing to show
        }
      },
      stop.signal,
    );
    return () => stop.abort();
  }, [token, id, stream]);
  return (
    <section aria-labelledby="log-title">
      <h2 id="log-title">Log</h2>
      <div role="group" aria-label="Which output">
        {(["stdout", "stderr"] as const).map((s) => (
          <button key={s} type="button" aria-pressed={stream === s} onClick={() => setStream(s)}>
            {s}
          </button>
        ))}
      </div>
      <pre class="log" aria-live="polite" data-testid="log" tabIndex={0}>
        {text || (ended ? "(nothing written)" : "(waiting for output…)")}
      </pre>
    </section>
  );
}

function Cancel({ client, job, onDone }: { client: Api; job: Job; onDone: (job: Job) => void }) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  async function submit(event: Event) {
    event.preventDefault();
    const { data, error: problem, response } = await client.POST("/v1/jobs/{id}/cancel", {
      params: { path: { id: job.id } },
      body: reason.trim() ? { reason: reason.trim() } : {},
    });
    if (data) {
      onDone(data);
    } else {
      setError(explain(problem, response));
    }
  }
  return (
    <form class="cancel" onSubmit={submit}>
      <label for="reason">Reason</label>
      <input id="reason" value={reason} maxLength={1024} onInput={(e) => setReason(e.currentTarget.value)} />
      <button type="submit" class="danger">
        Cancel job
      </button>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </form>
  );
}

/** Hold or release a job that has not started, and clone any job. */
function Actions({ client, job, onDone }: { client: Api; job: Job; onDone: (job: Job) => void }) {
  const [error, setError] = useState<string | null>(null);
  const unstarted = job.status === "SUBMITTED" || job.status === "QUEUED";
  async function toggleHold() {
    const path = job.held ? "/v1/jobs/{id}/release" : "/v1/jobs/{id}/hold";
    const { data, error: problem, response } = await client.POST(path, { params: { path: { id: job.id } } });
    if (data) {
      setError(null);
      onDone(data);
    } else {
      setError(explain(problem, response));
    }
  }
  async function clone() {
    const { data, error: problem, response } = await client.POST("/v1/jobs/{id}/clone", { params: { path: { id: job.id } } });
    if (data) {
      location.hash = `#/jobs/${data.id}`;
    } else {
      setError(explain(problem, response));
    }
  }
  return (
    <div class="actions">
      {unstarted && (
        <button type="button" onClick={() => void toggleHold()}>
          {job.held ? "Release" : "Hold"}
        </button>
      )}
      <button type="button" onClick={() => void clone()}>
        Clone
      </button>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </div>
  );
}

function describe(event: JobEvent): string {
  switch (event.event_type) {
    case "job.submitted":
      return `submitted to ${event.payload.agent} on ${event.payload.dataset_id}`;
    case "job.queued":
      return `queued on ${event.payload.backend}${event.payload.remote_job_id ? ` as ${event.payload.remote_job_id}` : ""}`;
    case "job.running":
      return "started running";
    case "job.completed":
      return `completed, exit code ${event.payload.exit_code}`;
    case "job.failed":
      return `failed: ${event.payload.error_code} ${event.payload.error_message}`;
    case "job.cancelled":
      return `cancelled by ${event.payload.cancelled_by}: ${event.payload.cancellation_reason}`;
    case "job.status_changed":
      return event.payload.reason;
    case "job.retry_scheduled":
      return `attempt failed (${event.payload.error_code}); attempt ${event.payload.attempt} at ${when(event.payload.next_attempt_at)}`;
    case "job.metrics_recorded":
      return "metrics";
  }
}

export function JobPage({ client, token, id }: { client: Api; token: string; id: string }) {
  const [job, setJob] = useState<Job | null>(null);
  const [events, setEvents] = useState<JobEvent[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    void client.GET("/v1/jobs/{id}", { params: { path: { id } } }).then(({ data, error: problem, response }) => {
      if (data) {
        setJob(data);
      } else {
        setError(response.status === 404 ? "No such job (or it is not yours)." : explain(problem, response));
      }
    });
  }, [client, id]);
  useEffect(() => {
    setEvents([]);
    const stop = new AbortController();
    void follow(
      `/v1/jobs/${id}/events/stream`,
      token,
      (message) => {
        const event = parseEvent(message.data);
        // (only a job's own events: not an audit record's nor a sweep's)
        if (!event || !("job_id" in event)) {
          return;
        }
        setEvents((current) => (current.some((e) => e.event_id === event.event_id) ? current : [...current, event]));
        if (event.event_type !== "job.metrics_recorded") {
          // the job's fields follow its events
          void client.GET("/v1/jobs/{id}", { params: { path: { id } } }).then(({ data }) => data && setJob(data));
        }
      },
      stop.signal,
    );
    return () => stop.abort();
  }, [client, token, id]);

  if (error) {
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  }
  if (!job) {
    return <p aria-busy="true">Loading…</p>;
  }
  const lifecycle = events.filter((e) => e.event_type !== "job.metrics_recorded");
  const r = job.resources;
  return (
    <article aria-labelledby="job-title">
      <p>
        <a href="#/jobs">← All jobs</a>
      </p>
      <h1 id="job-title">
        Job <span class="mono">{job.id}</span>
      </h1>
      <p>
        <span class={`status status-${job.status.toLowerCase()}`} data-testid="job-status" data-status={job.status}>
          {job.status}
        </span>
      </p>
      <dl class="facts">
        <dt>Agent</dt>
        <dd>{job.agent}</dd>
        <dt>Dataset</dt>
        <dd>{job.dataset_id}</dd>
        <dt>User</dt>
        <dd>{job.user_id}</dd>
        <dt>Backend</dt>
        <dd>
          {job.backend}
          {job.remote_job_id ? ` (${job.remote_job_id})` : ""}
          {job.account ? `, as ${job.account}` : ""}
        </dd>
        <dt>Submitted</dt>
        <dd>{when(job.created_at)}</dd>
        <dt>Queue wait</dt>
        <dd>{between(job.queued_at, job.started_at)}</dd>
        <dt>Run time</dt>
        <dd>{between(job.started_at, job.ended_at)}</dd>
        <dt>Resources</dt>
        <dd>
          {[
            r.nodes && `${r.nodes} node(s)`,
            r.cores_per_node && `${r.cores_per_node} core(s) each`,
            r.memory_mb && `${r.memory_mb} MB`,
            r.gpus && `${r.gpus} GPU(s)`,
            r.walltime_minutes && `${r.walltime_minutes} min`,
          ]
            .filter(Boolean)
            .join(", ") || "defaults"}
        </dd>
        {job.max_attempts > 1 && (
          <>
            <dt>Attempt</dt>
            <dd data-testid="attempt">
              {job.attempt} of {job.max_attempts}
              {job.next_attempt_at ? `, the next at ${when(job.next_attempt_at)}` : ""}
            </dd>
          </>
        )}
        <dt>Exit code</dt>
        <dd>{job.exit_code ?? "—"}</dd>
        {job.error && (
          <>
            <dt>Error</dt>
            <dd>
              {job.error.code}: {job.error.message}
            </dd>
          </>
        )}
        <dt>Parameters</dt>
        <dd>
          <code>{JSON.stringify(job.parameters)}</code>
        </dd>
        {job.held && (
          <>
            <dt>Held</dt>
            <dd data-testid="held">yes: it waits until released</dd>
          </>
        )}
        {job.depends_on.length > 0 && (
          <>
            <dt>Runs after</dt>
            <dd data-testid="depends-on">
              {job.depends_on.map((d) => {
                const target = d.job_id ?? d.sweep_id ?? "";
                return (
                  <span key={target}>
                    {d.job_id ? (
                      <a href={`#/jobs/${d.job_id}`} class="mono">
                        {d.job_id.slice(0, 8)}
                      </a>
                    ) : (
                      <span class="mono">sweep {target.slice(0, 8)}</span>
                    )}{" "}
                    ({d.condition}
                    {job.waiting_on?.includes(target) ? ", waiting" : ""}){" "}
                  </span>
                );
              })}
            </dd>
          </>
        )}
        {job.sweep_id && (
          <>
            <dt>Sweep</dt>
            <dd class="mono" data-testid="sweep">
              {job.sweep_id} (point {job.sweep_index}
              {job.gated ? ", waiting for a slot" : ""})
            </dd>
          </>
        )}
        {job.cloned_from && (
          <>
            <dt>Cloned from</dt>
            <dd>
              <a href={`#/jobs/${job.cloned_from}`} class="mono">
                {job.cloned_from}
              </a>
            </dd>
          </>
        )}
        {job.clones && job.clones.length > 0 && (
          <>
            <dt>Clones</dt>
            <dd data-testid="clones">
              {job.clones.map((clone) => (
                <a key={clone} href={`#/jobs/${clone}`} class="mono">
                  {clone}{" "}
                </a>
              ))}
            </dd>
          </>
        )}
      </dl>
      <Actions client={client} job={job} onDone={setJob} />
      {!TERMINAL.includes(job.status) && <Cancel client={client} job={job} onDone={setJob} />}
      <section aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        <ol class="timeline" data-testid="timeline">
          {lifecycle.map((event) => (
            <li key={event.event_id} data-event={event.event_type}>
              <time dateTime={event.timestamp}>{when(event.timestamp)}</time> <strong>{event.status}</strong>{" "}
              {describe(event)}
            </li>
          ))}
        </ol>
      </section>
      <MetricsChart events={events} />
      <LogTail token={token} id={job.id} />
    </article>
  );
}
