// The jobs table: filters (several statuses, agent, dataset, user for
// admins, a time range), a search by id or dataset, server-side paging, and
// live updates from the event stream (GET /v1/events/stream) without a
// reload.
import { useEffect, useRef, useState } from "preact/hooks";
import { STATUSES, explain, follow, parseEvent, when, type Api, type Job, type JobStatus } from "./api";

interface Filters {
  statuses: JobStatus[];
  agent: string;
  dataset: string;
  user: string;
  after: string;
  before: string;
}

const EMPTY: Filters = { statuses: [], agent: "", dataset: "", user: "", after: "", before: "" };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PAGE = 25;

function iso(local: string): string | undefined {
  return local === "" ? undefined : new Date(local).toISOString();
}

export function JobsPage({ client, token, admin }: { client: Api; token: string; admin: boolean }) {
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [search, setSearch] = useState("");
  const [jobs, setJobs] = useState<Job[]>([]);
  const [cursors, setCursors] = useState<string[]>([]); // the cursor of each page shown before this one
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [reloads, setReloads] = useState(0);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => {
    let stale = false;
    setLoading(true);
    void client
      .GET("/v1/jobs", {
        params: {
          query: {
            limit: PAGE,
            cursor,
            status: filters.statuses.length > 0 ? filters.statuses.join(",") : undefined,
            agent: filters.agent || undefined,
            dataset_id: filters.dataset || undefined,
            user: admin && filters.user ? filters.user : undefined,
            created_after: iso(filters.after),
            created_before: iso(filters.before),
          },
        },
      })
      .then(({ data, error: problem, response }) => {
        if (stale) {
          return;
        }
        setLoading(false);
        if (data) {
          setJobs(data.jobs);
          setNext(data.next_cursor ?? null);
          setError(null);
        } else {
          setError(explain(problem, response));
        }
      });
    return () => {
      stale = true;
    };
  }, [client, filters, cursor, admin, reloads]);

  // live: a status change updates its row; a new job reloads the first page
  const visible = useRef<Set<string>>(new Set());
  visible.current = new Set(jobs.map((j) => j.id));
  useEffect(() => {
    const stop = new AbortController();
    let pending: ReturnType<typeof setTimeout> | undefined;
    void follow(
      "/v1/events/stream",
      token,
      (message) => {
        const event = parseEvent(message.data);
        if (!event || !("job_id" in event) || event.event_type === "job.metrics_recorded") {
          return;
        }
        if (event.event_type === "job.submitted") {
          if (cursor === undefined && pending === undefined) {
            pending = setTimeout(() => {
              pending = undefined;
              setReloads((n) => n + 1);
            }, 300);
          }
          return;
        }
        if (!visible.current.has(event.job_id)) {
          return;
        }
        setJobs((current) =>
          current.map((job) =>
            job.id === event.job_id
              ? {
                  ...job,
                  status: event.status,
                  updated_at: event.timestamp,
                  exit_code: event.event_type === "job.completed" ? event.payload.exit_code : job.exit_code,
                }
              : job,
          ),
        );
      },
      stop.signal,
    );
    return () => {
      stop.abort();
      if (pending !== undefined) {
        clearTimeout(pending);
      }
    };
  }, [token, cursor]);

  const set = (change: Partial<Filters>) => {
    setCursors([]);
    setFilters({ ...filters, ...change });
  };
  const toggle = (status: JobStatus) =>
    set({
      statuses: filters.statuses.includes(status)
        ? filters.statuses.filter((s) => s !== status)
        : [...filters.statuses, status],
    });
  const find = (event: Event) => {
    event.preventDefault();
    const text = search.trim();
    if (UUID.test(text)) {
      location.hash = `#/jobs/${text}`;
    } else {
      set({ dataset: text });
    }
  };

  return (
    <section aria-labelledby="jobs-title">
      <h1 id="jobs-title">Jobs</h1>
      <form class="search" role="search" onSubmit={find}>
        <label for="search">Find a job by id, or jobs by dataset</label>
        <input id="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        <button type="submit">Find</button>
      </form>
      <fieldset class="filters">
        <legend>Filters</legend>
        <div class="statuses" role="group" aria-label="Status">
          {STATUSES.map((status) => (
            <label key={status} class="check">
              <input
                type="checkbox"
                checked={filters.statuses.includes(status)}
                onChange={() => toggle(status)}
              />
              {status}
            </label>
          ))}
        </div>
        <label>
          Agent
          <input name="agent" value={filters.agent} onChange={(e) => set({ agent: e.currentTarget.value.trim() })} />
        </label>
        <label>
          Dataset
          <input
            name="dataset"
            value={filters.dataset}
            onChange={(e) => set({ dataset: e.currentTarget.value.trim() })}
          />
        </label>
        {admin && (
          <label>
            User
            <input name="user" value={filters.user} onChange={(e) => set({ user: e.currentTarget.value.trim() })} />
          </label>
        )}
        <label>
          Created after
          <input type="datetime-local" value={filters.after} onChange={(e) => set({ after: e.currentTarget.value })} />
        </label>
        <label>
          Created before
          <input
            type="datetime-local"
            value={filters.before}
            onChange={(e) => set({ before: e.currentTarget.value })}
          />
        </label>
        <button type="button" onClick={() => set(EMPTY)}>
          Clear filters
        </button>
      </fieldset>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <table aria-busy={loading}>
        <caption class="visually-hidden">Jobs, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Job</th>
            {admin && <th scope="col">User</th>}
            <th scope="col">Agent</th>
            <th scope="col">Dataset</th>
            <th scope="col">Status</th>
            <th scope="col">Submitted</th>
            <th scope="col">Exit code</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <tr key={job.id} data-job={job.id}>
              <td>
                <a href={`#/jobs/${job.id}`} class="mono">
                  {job.id.slice(0, 8)}…
                </a>
              </td>
              {admin && <td>{job.user_id}</td>}
              <td>{job.agent}</td>
              <td>{job.dataset_id}</td>
              <td>
                <span class={`status status-${job.status.toLowerCase()}`} data-status={job.status}>
                  {job.status}
                </span>
              </td>
              <td>{when(job.created_at)}</td>
              <td>{job.exit_code ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!loading && jobs.length === 0 && <p>No jobs match.</p>}
      <nav class="pages" aria-label="Pages">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button type="button" disabled={next === null} onClick={() => next && setCursors([...cursors, next])}>
          Next page
        </button>
      </nav>
    </section>
  );
}
