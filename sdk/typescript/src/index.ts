// Horizon's TypeScript client: the API's types, generated from its OpenAPI
// document (src/schema.ts, by openapi-typescript: do not edit), a typed
// fetch client over them (openapi-fetch), and a few helpers a gateway's
// code wants: errors as exceptions carrying the problem, submit-and-wait,
// and a job's live events (Server-Sent Events, resumed with Last-Event-ID).
import createFetchClient, { type Client } from "openapi-fetch";
import { EventSourceParserStream } from "eventsource-parser/stream";
import type { components, paths } from "./schema.js";

export type { components, paths };
export type Job = components["schemas"]["JobDto"];
export type JobStatus = components["schemas"]["JobStatusDto"];
export type JobEvent = components["schemas"]["JobEvent"];
export type AuditRecord = components["schemas"]["AuditRecord"];
export type Problem = components["schemas"]["Problem"];
export type SubmitJobRequest = components["schemas"]["SubmitJobRequest"];
export type HorizonClient = Client<paths>;

/** The statuses a job never leaves. */
export const TERMINAL: readonly JobStatus[] = ["COMPLETED", "FAILED", "CANCELLED"];

/** An answer other than 2xx: its status and RFC 9457 problem. */
export class HorizonError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(`${status} ${problem.title}: ${problem.detail}`);
    this.name = "HorizonError";
    this.status = status;
    this.problem = problem;
  }
}

export interface HorizonOptions {
  /** e.g. `http://127.0.0.1:8080` */
  baseUrl: string;
  /** A Horizon token or a gateway JWT. */
  token: string;
}

/** A typed client: every route of `paths`, with the bearer token. */
export function createHorizonClient(options: HorizonOptions): HorizonClient {
  const client = createFetchClient<paths>({ baseUrl: options.baseUrl });
  client.use({
    onRequest({ request }) {
      request.headers.set("authorization", `Bearer ${options.token}`);
      return request;
    },
  });
  return client;
}

function isProblem(value: unknown): value is Problem {
  return (
    typeof value === "object" &&
    value !== null &&
    "status" in value &&
    "title" in value &&
    "detail" in value
  );
}

/**
 * The data of an openapi-fetch answer, or a `HorizonError` with its problem:
 * `const job = must(await client.GET("/v1/jobs/{id}", …))`.
 */
export function must<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.data !== undefined) {
    return answer.data;
  }
  const problem: Problem = isProblem(answer.error)
    ? answer.error
    : {
        type: "about:blank",
        title: answer.response.statusText,
        status: answer.response.status,
        detail: String(answer.error ?? "no body"),
      };
  throw new HorizonError(answer.response.status, problem);
}

/** Submit a job and wait (polling) until it ends; the ended job. */
export async function submitAndWait(
  client: HorizonClient,
  request: SubmitJobRequest,
  { pollMs = 500, timeoutMs = 600_000 }: { pollMs?: number; timeoutMs?: number } = {},
): Promise<Job> {
  const submitted = must(await client.POST("/v1/jobs", { body: request }));
  const deadline = Date.now() + timeoutMs;
  let job = submitted;
  while (!TERMINAL.includes(job.status)) {
    if (Date.now() > deadline) {
      throw new Error(`job ${job.id} still ${job.status} after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    job = must(await client.GET("/v1/jobs/{id}", { params: { path: { id: submitted.id } } }));
  }
  return job;
}

/** An event as it arrived on a stream, with the id to resume after it. */
export interface StreamedEvent {
  id: string;
  event: JobEvent;
}

function isJobEvent(value: unknown): value is JobEvent {
  return (
    typeof value === "object" &&
    value !== null &&
    "event_type" in value &&
    typeof value.event_type === "string" &&
    value.event_type.startsWith("job.")
  );
}

/**
 * A job's events as they happen, from the first (or after `lastEventId`),
 * until its terminal event: `GET /v1/jobs/{id}/events/stream`. A dropped
 * connection is resumed with `Last-Event-ID`, so no event is missed or
 * repeated.
 */
export async function* followJobEvents(
  options: HorizonOptions,
  jobId: string,
  lastEventId?: string,
): AsyncGenerator<StreamedEvent> {
  let after = lastEventId;
  for (let attempt = 0; attempt < 50; attempt++) {
    const headers: Record<string, string> = {
      authorization: `Bearer ${options.token}`,
      accept: "text/event-stream",
    };
    if (after !== undefined) {
      headers["last-event-id"] = after;
    }
    let response: Response;
    try {
      response = await fetch(`${options.baseUrl}/v1/jobs/${encodeURIComponent(jobId)}/events/stream`, { headers });
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    if (response.status === 204) {
      return; // the terminal event was the last one received
    }
    if (!response.ok || response.body === null) {
      const body: unknown = await response.json().catch(() => null);
      throw new HorizonError(
        response.status,
        isProblem(body) ? body : { type: "about:blank", title: response.statusText, status: response.status, detail: "" },
      );
    }
    const events = response.body
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new EventSourceParserStream());
    try {
      for await (const message of events) {
        if (message.event !== undefined && message.event !== "message") {
          continue;
        }
        const event: unknown = JSON.parse(message.data);
        if (!isJobEvent(event) || message.id === undefined) {
          continue;
        }
        after = message.id;
        yield { id: message.id, event };
        if (event.event_type === "job.completed" || event.event_type === "job.failed" || event.event_type === "job.cancelled") {
          return;
        }
      }
    } catch {
      // the connection dropped: resume after the last event
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`gave up following job ${jobId}`);
}
