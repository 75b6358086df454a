// For admins: is Horizon healthy (readiness, backends, the relay), which
// processes share the database and which one relays, how far behind the
// relay is, what Kafka refused for good (parked events, with retry), and the
// latest audit records.
import { Fragment } from "preact";
import { useEffect, useState } from "preact/hooks";
import { explain, when, type Api, type AuditRecord, type Cluster, type ParkedEvent } from "./api";

/** How often the processes and the relay's lag are read again. */
const CLUSTER_EVERY_MS = 5000;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function field(value: Json | undefined, key: string): Json | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value[key] : undefined;
}

function text(value: Json | undefined): string {
  if (value === undefined || value === null) {
    return "—";
  }
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** /readyz, for a person: overall status, the Kafka relay, each backend, problems. */
function Readiness({ ready }: { ready: Json | undefined }) {
  const kafka = field(ready, "kafka");
  const backends = field(ready, "backends");
  const problems = field(ready, "problems");
  return (
    <>
      <p>
        Status: <strong data-testid="readiness">{text(field(ready, "status"))}</strong>
      </p>
      <dl class="facts">
        <dt>Kafka relay</dt>
        <dd>
          {text(field(kafka, "state"))}
          {field(kafka, "role") !== undefined && `, this process: ${text(field(kafka, "role"))}`}
          {field(kafka, "mode") !== undefined && `, ${text(field(kafka, "mode"))}`}
        </dd>
        <dt>Published</dt>
        <dd>
          {text(field(kafka, "published"))} event(s), last acknowledged {text(field(kafka, "last_ack"))}
        </dd>
        <dt>Parked</dt>
        <dd>{text(field(kafka, "parked"))}</dd>
        {backends !== null && typeof backends === "object" && !Array.isArray(backends) &&
          Object.entries(backends).map(([name, reach]) => (
            <Fragment key={name}>
              <dt>Backend {name}</dt>
              <dd>
                {field(reach, "unreachable_since") ? `unreachable since ${text(field(reach, "unreachable_since"))}` : "reachable"}
              </dd>
            </Fragment>
          ))}
      </dl>
      {Array.isArray(problems) && problems.length > 0 && (
        <ul class="error">
          {problems.map((p) => (
            <li key={text(p)}>{text(p)}</li>
          ))}
        </ul>
      )}
    </>
  );
}

function seconds(value: number): string {
  return value < 10 ? `${value.toFixed(1)} s` : `${Math.round(value)} s`;
}

/** /v1/admin/cluster: the outbox, the relay's lease, every process. */
function Processes({ cluster }: { cluster: Cluster | undefined }) {
  if (!cluster) {
    return <p>Loading…</p>;
  }
  const leader = cluster.processes.find((p) => p.leads_relay);
  const lease = cluster.relay_lease;
  return (
    <>
      <dl class="facts">
        <dt>Outbox depth</dt>
        <dd data-testid="outbox-depth">{cluster.outbox ? `${cluster.outbox.depth} event(s) waiting for Kafka` : "— (no Kafka)"}</dd>
        <dt>Relay lag</dt>
        <dd data-testid="relay-lag">
          {cluster.outbox
            ? cluster.outbox.oldest_waiting_at
              ? `${seconds(cluster.outbox.lag_seconds)} (oldest waiting since ${when(cluster.outbox.oldest_waiting_at)})`
              : "none: every event is in Kafka"
            : "— (no Kafka)"}
        </dd>
        <dt>Relay leader</dt>
        <dd data-testid="relay-leader">
          {!cluster.outbox
            ? "— (no Kafka)"
            : leader
            ? `${leader.host} pid ${leader.pid}${leader.this_process ? " (this process)" : ""}`
            : cluster.shared_database
              ? lease?.expired
                ? "none: the lease expired; a standby takes it within seconds"
                : "none yet"
              : "this process (one process on SQLite)"}
          {lease && `, epoch ${lease.epoch}`}
        </dd>
      </dl>
      <table aria-labelledby="processes-title">
        <thead>
          <tr>
            <th scope="col">Process</th>
            <th scope="col">Host</th>
            <th scope="col">PID</th>
            <th scope="col">Started</th>
            <th scope="col">Last heartbeat</th>
            <th scope="col">State</th>
            <th scope="col">Role</th>
          </tr>
        </thead>
        <tbody>
          {cluster.processes.map((p) => (
            <tr key={p.id} data-process={p.id} data-alive={String(p.alive)} data-leads={String(p.leads_relay)}>
              <td class="mono" title={p.id}>
                {p.id.slice(0, 8)}
                {p.this_process && " (this one)"}
              </td>
              <td>{p.host}</td>
              <td>{p.pid}</td>
              <td>{when(p.started_at)}</td>
              <td>{when(p.heartbeat_at)}</td>
              <td>{p.gone_at ? "host gone" : p.alive ? "alive" : "silent"}</td>
              <td>{p.leads_relay ? "relay leader" : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function SystemPage({ client }: { client: Api }) {
  const [cluster, setCluster] = useState<Cluster | undefined>(undefined);
  const [ready, setReady] = useState<string>("…");
  const [readyJson, setReadyJson] = useState<Json | undefined>(undefined);
  const [parked, setParked] = useState<ParkedEvent[]>([]);
  const [audit, setAudit] = useState<AuditRecord[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  useEffect(() => {
    void fetch("/readyz").then(async (response) => {
      const body: Json = await response.json();
      setReadyJson(body);
      setReady(JSON.stringify(body, null, 2));
    });
    void client.GET("/v1/admin/parked-events").then(({ data }) => data && setParked(data.events));
    void client.GET("/v1/audit", { params: { query: { limit: 1000 } } }).then(({ data }) => data && setAudit(data.records.slice(-20).reverse()));
  }, [client, reloads]);
  useEffect(() => {
    const read = () => void client.GET("/v1/admin/cluster").then(({ data }) => data && setCluster(data));
    read();
    const timer = setInterval(read, CLUSTER_EVERY_MS);
    return () => clearInterval(timer);
  }, [client, reloads]);
  async function retry(jobId?: string) {
    const { data, error, response } = await client.POST("/v1/admin/parked-events/retry", {
      body: jobId ? { job_id: jobId } : {},
    });
    setMessage(data ? `${data.unparked} event(s) sent to Kafka again.` : explain(error, response));
    setReloads((n) => n + 1);
  }
  return (
    <section aria-labelledby="system-title">
      <h1 id="system-title">System</h1>
      <h2>Readiness</h2>
      <Readiness ready={readyJson} />
      <details>
        <summary>All of /readyz</summary>
        <pre class="log" tabIndex={0} aria-label="Readiness, as /readyz says">
          {ready}
        </pre>
      </details>
      <h2 id="processes-title">Processes and the relay</h2>
      <Processes cluster={cluster} />
      <h2 id="parked-title">Parked events</h2>
      {message && <p role="status">{message}</p>}
      {parked.length === 0 ? (
        <p>None: every event reached Kafka.</p>
      ) : (
        <>
          <button type="button" onClick={() => void retry()}>
            Retry all
          </button>
          <table aria-labelledby="parked-title">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Job</th>
                <th scope="col">Parked</th>
                <th scope="col">Why</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {parked.map((p) => (
                <tr key={p.position} data-parked={p.event.event_type}>
                  <td>{p.event.event_type}</td>
                  <td class="mono">{"job_id" in p.event ? p.event.job_id.slice(0, 8) : "—"}</td>
                  <td>{when(p.parked_at)}</td>
                  <td>{p.reason}</td>
                  <td>
                    {"job_id" in p.event && (
                      <button type="button" onClick={() => "job_id" in p.event && void retry(p.event.job_id)}>
                        Retry
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h2 id="audit-title">Latest audit records</h2>
      <table aria-labelledby="audit-title">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">Action</th>
            <th scope="col">Outcome</th>
            <th scope="col">Target</th>
          </tr>
        </thead>
        <tbody>
          {audit.map((r) => (
            <tr key={r.event_id}>
              <td>{when(r.timestamp)}</td>
              <td>{r.actor ?? "—"}</td>
              <td>{r.action}</td>
              <td>{r.outcome}</td>
              <td class="mono">{r.target ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
