// A job's CPU and memory over time, from its metrics events, drawn with
// uPlot (a small charting library made for time series). Each series also
// has a text summary, for screen readers and for a glance.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { JobEvent } from "./api";

type Metrics = Extract<JobEvent, { event_type: "job.metrics_recorded" }>;

function isMetrics(event: JobEvent): event is Metrics {
  return event.event_type === "job.metrics_recorded";
}

export function MetricsChart({ events }: { events: JobEvent[] }) {
  const box = useRef<HTMLDivElement>(null);
  const samples = events.filter(isMetrics);
  const times = samples.map((e) => new Date(e.payload.timestamp).getTime() / 1000);
  const cpu = samples.map((e) => e.payload.cpu_usage_percent);
  const memory = samples.map((e) => e.payload.memory_usage_mb);
  useEffect(() => {
    const element = box.current;
    if (!element || samples.length < 2) {
      return;
    }
    const style = getComputedStyle(document.documentElement);
    const accent = style.getPropertyValue("--accent").trim() || "#0550ae";
    const warn = style.getPropertyValue("--warn").trim() || "#7d4e00";
    const axis = { stroke: style.getPropertyValue("--muted").trim() || "#57606a" };
    const plot = new uPlot(
      {
        width: Math.min(element.clientWidth || 640, 900),
        height: 220,
        series: [
          {},
          { label: "CPU %", stroke: accent, width: 2, scale: "%" },
          { label: "Memory MB", stroke: warn, width: 2, scale: "mb" },
        ],
        axes: [axis, { ...axis, scale: "%" }, { ...axis, scale: "mb", side: 1 }],
      },
      [times, cpu, memory],
      element,
    );
    return () => plot.destroy();
  }, [samples.length]);
  if (samples.length === 0) {
    return null;
  }
  const peak = (values: number[]) => Math.max(...values).toFixed(1);
  return (
    <section aria-labelledby="metrics-title">
      <h2 id="metrics-title">CPU and memory</h2>
      <p>
        {samples.length} samples; CPU peak {peak(cpu)} %, memory peak {peak(memory)} MB.
      </p>
      <div ref={box} class="chart" aria-hidden="true" />
    </section>
  );
}
