// For admins: is Horizon healthy (readiness, backends, the relay), what
// Kafka refused for good (parked events, with retry), and the latest audit
// records.
import { useEffect, useState } from "preact/hooks";
import { explain, when, type Api, type AuditRecord, type ParkedEvent } from "./api";

export function SystemPage({ client }: { client: Api }) {
  const [ready, setReady] = useState<string>("…");
  const [parked, setParked] = useState<ParkedEvent[]>([]);
  const [audit, setAudit] = useState<AuditRecord[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  useEffect(() => {
    void fetch("/readyz").then(async (response) => setReady(JSON.stringify(await response.json(), null, 2)));
    void client.GET("/v1/admin/parked-events").then(({ data }) => data && setParked(data.events));
    void client.GET("/v1/audit", { params: { query: { limit: 1000 } } }).then(({ data }) => data && setAudit(data.records.slice(-20).reverse()));
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
      <pre class="log" tabIndex={0} aria-label="Readiness, as /readyz says">
        {ready}
      </pre>
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
