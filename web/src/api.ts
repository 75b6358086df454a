// The API, typed by the SDK's generated schema (sdk/typescript/src/schema.ts)
// and called through openapi-fetch; streams read with fetch and
// eventsource-parser (a browser's EventSource cannot send the bearer token).
import createClient, { type Client } from "openapi-fetch";
import { EventSourceParserStream } from "eventsource-parser/stream";
import type { components, paths } from "../../sdk/typescript/src/schema";

export type Job = components["schemas"]["JobDto"];
export type JobStatus = components["schemas"]["JobStatusDto"];
export type JobEvent = components["schemas"]["JobEvent"];
export type Event = components["schemas"]["Event"];
export type Problem = components["schemas"]["Problem"];
export type ParkedEvent = components["schemas"]["ParkedEventDto"];
export type AuditRecord = components["schemas"]["AuditRecord"];
export type Cluster = components["schemas"]["ClusterDto"];
export type Api = Client<paths>;

export const STATUSES: readonly JobStatus[] = ["SUBMITTED", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"];
export const TERMINAL: readonly JobStatus[] = ["COMPLETED", "FAILED", "CANCELLED"];

export function api(token: string): Api {
  const client = createClient<paths>({ baseUrl: location.origin });
  client.use({
    onRequest({ request }) {
      request.headers.set("authorization", `Bearer ${token}`);
      return request;
    },
  });
  return client;
}

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && "detail" in value && "status" in value;
}

/** What went wrong, for a person. */
export function explain(error: unknown, response: Response): string {
  return isProblem(error) ? error.detail : `${response.status} ${response.statusText}`;
}

export interface StreamMessage {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/**
 * Follow a Server-Sent Event stream with the bearer token, resuming with
 * Last-Event-ID after a dropped connection, until `signal` aborts or the
 * server says it is done (204). Each message goes to `take`.
 */
export async function follow(
  path: string,
  token: string,
  take: (message: StreamMessage) => void,
  signal: AbortSignal,
): Promise<void> {
  let last: string | undefined;
  while (!signal.aborted) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "text/event-stream" };
    if (last !== undefined) {
      headers["last-event-id"] = last;
    }
    try {
      const response = await fetch(path, { headers, signal });
      if (response.status === 204 || !response.ok || response.body === null) {
        return;
      }
      const messages = response.body
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(new EventSourceParserStream());
      for await (const message of messages) {
        if (message.id !== undefined) {
          last = message.id;
        }
        take({ id: message.id, event: message.event, data: message.data });
      }
    } catch {
      if (signal.aborted) {
        return;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function isEvent(value: unknown): value is Event {
  return typeof value === "object" && value !== null && "event_type" in value && "event_id" in value;
}

export function parseEvent(data: string): Event | undefined {
  try {
    const value: unknown = JSON.parse(data);
    return isEvent(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export function when(text: string | null | undefined): string {
  if (!text) {
    return "—";
  }
  return new Date(text).toLocaleString();
}

/** A duration between two times, for a person (`4.2 s`, `3 min 5 s`). */
export function between(from: string | null | undefined, to: string | null | undefined): string {
  if (!from || !to) {
    return "—";
  }
  const ms = new Date(to).getTime() - new Date(from).getTime();
  if (ms < 60_000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return minutes < 60 ? `${minutes} min ${seconds} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
