// Per agent over a window: jobs by outcome, success rate, p50/p95 run time
// and queue wait (GET /v1/agents/stats), as a chart and a table. A user
// sees their own jobs; an admin everyone's.
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { explain, type Api } from "./api";
import type { components } from "../../sdk/typescript/src/schema";

type Stats = components["schemas"]["AgentStatsDto"];

const WINDOWS: readonly [string, number][] = [
  ["Last hour", 1],
  ["Last 24 hours", 24],
  ["Last 7 days", 24 * 7],
  ["Last 30 days", 24 * 30],
];

function seconds(value: number | undefined): string {
  if (value === undefined) {
    return "—";
  }
  return value < 120 ? `${value.toFixed(1)} s` : `${(value / 60).toFixed(1)} min`;
}

function OutcomeChart({ agents }: { agents: Stats[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element || agents.length === 0) {
      return;
    }
    const style = getComputedStyle(document.documentElement);
    const color = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
    const bars = uPlot.paths.bars?.({ size: [0.25, 40] });
    const axis = { stroke: color("--muted", "#57606a") };
    const plot = new uPlot(
      {
        width: Math.min(element.clientWidth || 640, 900),
        height: 240,
        scales: { x: { time: false, range: [-0.5, agents.length - 0.5] } },
        axes: [
          { ...axis, values: (_u, ticks) => ticks.map((t) => agents[t]?.agent ?? ""), splits: () => agents.map((_, i) => i) },
          axis,
        ],
        series: [
          {},
          { label: "Completed", stroke: color("--ok", "#116329"), fill: color("--ok", "#116329"), paths: bars },
          { label: "Failed", stroke: color("--danger", "#a40e26"), fill: color("--danger", "#a40e26"), paths: bars },
          { label: "Cancelled", stroke: color("--warn", "#7d4e00"), fill: color("--warn", "#7d4e00"), paths: bars },
        ],
      },
      [
        agents.map((_, i) => i),
        agents.map((a) => a.by_status.COMPLETED),
        agents.map((a) => a.by_status.FAILED),
        agents.map((a) => a.by_status.CANCELLED),
      ],
      element,
    );
    return () => plot.destroy();
  }, [agents]);
  return <div ref={box} class="chart" aria-hidden="true" data-testid="outcomes-chart" />;
}

export function AgentsPage({ client }: { client: Api }) {
  const [hours, setHours] = useState(24);
  const [agents, setAgents] = useState<Stats[]>([]);
  const [truncated, setTruncated] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const since = new Date(Date.now() - hours * 3_600_000).toISOString();
    void client.GET("/v1/agents/stats", { params: { query: { since } } }).then(({ data, error: problem, response }) => {
      if (data) {
        setAgents(data.agents);
        setTruncated(data.truncated);
        setError(null);
      } else {
        setError(explain(problem, response));
      }
    });
  }, [client, hours]);
  return (
    <section aria-labelledby="agents-title">
      <h1 id="agents-title">Agents</h1>
      <label>
        Window
        <select value={hours} onChange={(e) => setHours(Number(e.currentTarget.value))}>
          {WINDOWS.map(([label, h]) => (
            <option key={h} value={h}>
              {label}
            </option>
          ))}
        </select>
      </label>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {truncated && <p role="status">Only the newest jobs of this window are counted: narrow it.</p>}
      {agents.length === 0 ? (
        <p>No jobs in this window.</p>
      ) : (
        <>
          <h2>Outcomes</h2>
          <OutcomeChart agents={agents} />
          <table data-testid="agents-table">
            <caption class="visually-hidden">Jobs per agent in the window</caption>
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Jobs</th>
                <th scope="col">Completed</th>
                <th scope="col">Failed</th>
                <th scope="col">Cancelled</th>
                <th scope="col">Success rate</th>
                <th scope="col">Run time p50 / p95</th>
                <th scope="col">Queue wait p50 / p95</th>
              </tr>
            </thead>
            <tbody>
              {agents.map((a) => (
                <tr key={a.agent} data-agent={a.agent}>
                  <th scope="row">{a.agent}</th>
                  <td>{a.jobs}</td>
                  <td>{a.by_status.COMPLETED}</td>
                  <td>{a.by_status.FAILED}</td>
                  <td>{a.by_status.CANCELLED}</td>
                  <td data-testid="success-rate">
                    {a.success_rate === null || a.success_rate === undefined ? "—" : `${Math.round(a.success_rate * 100)} %`}
                  </td>
                  <td>
                    {seconds(a.run_seconds?.p50)} / {seconds(a.run_seconds?.p95)}
                  </td>
                  <td>
                    {seconds(a.queue_seconds?.p50)} / {seconds(a.queue_seconds?.p95)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
