/**
 * The client of a qgjob coordinator: its HTTP API (`/api/v1/...`) and the `/watch` Socket.IO
 * namespace. The CLI and the end-to-end tests both talk to the coordinator through this module only.
 *
 * Every failure becomes a `QgError`: a non-2xx answer keeps the server's code, message and field
 * errors; a connection that cannot be made becomes `coordinator_unreachable`.
 */
import { basename } from 'node:path';
import {
  QgError,
  type AppBuildView,
  type AppUploadReply,
  type AppUrlRegistration,
  type Platform,
  type AgentView,
  type FieldErrors,
  type Health,
  type JobEvent,
  type JobList,
  type JobSpecInput,
  type JobState,
  type JobView,
  type RerunSpecInput,
  type RunList,
  type RunSpecInput,
  type RunState,
  type RunView,
  type SubmitReply,
  type SubmitRunReply,
  isErrorCode,
} from '../shared/index.js';
import type { RunWatchOptions } from './watch-run.js';
import { type WatchConnectionOptions, followWatch, withAdvice } from './watch-socket.js';

/** Default coordinator URL when neither `--url` nor `QGJOB_URL` is given. */
export { DEFAULT_COORDINATOR_URL } from './defaults.js';
import { DEFAULT_COORDINATOR_URL } from './defaults.js';

export interface QgClientOptions {
  /** Coordinator base URL, e.g. `http://127.0.0.1:8080` (a trailing slash is fine). */
  url: string;
  /**
   * API token of the caller's org (or the admin token), sent as `Authorization: Bearer`; needed
   * when the coordinator has tokens configured. Default: none.
   */
  token?: string;
  /** Bound on one HTTP request, connect to last byte (ms). Default 30 000. */
  requestTimeoutMs?: number;
  /** Bound on a build upload or URL registration, connect to last byte (ms). Default 3 600 000 (1 h). */
  uploadTimeoutMs?: number;
}

/** Filters of `GET /api/v1/jobs`; every one is optional. Results are newest first. */
export interface JobFilter {
  org_id?: string;
  status?: JobState;
  app_version_id?: string;
  /** Page size; the coordinator caps it. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** Filters of `GET /api/v1/runs`; every one is optional. Results are newest first. */
export interface RunFilter {
  org_id?: string;
  status?: RunState;
  /** Page size, 1 to 100; the coordinator's default is 20. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}


/** The most specific reason Node gives for a failed connection (`connect ECONNREFUSED 127.0.0.1:1`). */
function networkReason(err: unknown): string {
  let e: unknown = err;
  // fetch wraps the socket error: TypeError('fetch failed', { cause: Error('connect ECONNREFUSED …') }).
  for (let i = 0; i < 4 && e instanceof Error && e.cause instanceof Error; i++) e = e.cause;
  if (e instanceof AggregateError && e.errors[0] instanceof Error) e = e.errors[0];
  return e instanceof Error ? e.message : String(e);
}

/** Removes trailing slashes so paths can be appended. */
const baseUrl = (url: string) => url.replace(/\/+$/, '');

/**
 * A thin typed client of the coordinator's HTTP API.
 * @example
 * const client = new QgClient({ url: 'http://127.0.0.1:8080' });
 * const { job_id } = await client.submit({ org_id: 'qualgent', app_version_id: 'xyz123', test_path: 'tests/onboarding.spec.js', target: 'emulator' });
 * const job = await client.getJob(job_id);
 */
export class QgClient {
  readonly url: string;
  /** The API token, if any (also handed to `watchJob`). */
  readonly token: string | undefined;
  private readonly requestTimeoutMs: number;
  private readonly uploadTimeoutMs: number;

  constructor(opts: QgClientOptions) {
    this.url = baseUrl(opts.url);
    this.token = opts.token || undefined;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.uploadTimeoutMs = opts.uploadTimeoutMs ?? 3_600_000;
  }

  /** `POST /api/v1/jobs`: queues a job. The server validates `spec` with the shared `JobSpec` schema. */
  submit(spec: JobSpecInput): Promise<SubmitReply> {
    return this.request<SubmitReply>('POST', '/api/v1/jobs', spec);
  }

  /** `GET /api/v1/jobs/:id`. Throws `job_not_found` when there is no such job. */
  getJob(jobId: string): Promise<JobView> {
    return this.request<JobView>('GET', `/api/v1/jobs/${encodeURIComponent(jobId)}`);
  }

  /** `GET /api/v1/jobs?…`: one page of jobs, newest first. */
  listJobs(filter: JobFilter = {}): Promise<JobList> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    const qs = q.toString();
    return this.request<JobList>('GET', `/api/v1/jobs${qs ? `?${qs}` : ''}`);
  }

  /** `POST /api/v1/jobs/:id/cancel`: the job as it is after the cancel. `illegal_transition` if it already ended. */
  cancel(jobId: string): Promise<JobView> {
    return this.request<JobView>('POST', `/api/v1/jobs/${encodeURIComponent(jobId)}/cancel`);
  }

  /** `POST /api/v1/jobs/:id/resubmit`: a new job with the same spec as an ended one. */
  resubmit(jobId: string): Promise<SubmitReply> {
    return this.request<SubmitReply>('POST', `/api/v1/jobs/${encodeURIComponent(jobId)}/resubmit`);
  }

  /**
   * `POST /api/v1/runs`: submits a suite as one run (one job per test). With `idempotency_key`, a
   * resubmission returns the run it already created (`created: false`, the same job ids); the same
   * key with another payload throws `idempotency_conflict`.
   * @example const { run_id } = await client.submitRun({ org_id: 'qualgent', app_version_id: 'xyz123', target: 'emulator', tests: ['tests/a.spec.js', 'tests/b.spec.js'] });
   */
  submitRun(spec: RunSpecInput): Promise<SubmitRunReply> {
    return this.request<SubmitRunReply>('POST', '/api/v1/runs', spec);
  }

  /** `GET /api/v1/runs/:id`. Throws `run_not_found` when there is no such run. */
  getRun(runId: string): Promise<RunView> {
    return this.request<RunView>('GET', `/api/v1/runs/${encodeURIComponent(runId)}`);
  }

  /** `GET /api/v1/runs?…`: one page of runs, newest first. */
  listRuns(filter: RunFilter = {}): Promise<RunList> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    const qs = q.toString();
    return this.request<RunList>('GET', `/api/v1/runs${qs ? `?${qs}` : ''}`);
  }

  /**
   * `POST /api/v1/runs/:id/rerun`: a new run of the ended run's failed jobs (`only: 'failed'`, the
   * default) or of all of them. Throws `illegal_transition` while the run has unfinished jobs or
   * when none failed.
   */
  rerunRun(runId: string, spec: RerunSpecInput = {}): Promise<SubmitRunReply> {
    return this.request<SubmitRunReply>('POST', `/api/v1/runs/${encodeURIComponent(runId)}/rerun`, spec);
  }

  /** `POST /api/v1/runs/:id/cancel`: cancels every unfinished job; the run afterwards. `illegal_transition` if it had ended. */
  cancelRun(runId: string): Promise<RunView> {
    return this.request<RunView>('POST', `/api/v1/runs/${encodeURIComponent(runId)}/cancel`);
  }

  /** Follows a run over `/watch` until every job has ended; resolves with the final RunView (see `watchRun`). */
  async watchRun(runId: string, opts: RunWatchOptions = {}): Promise<RunView> {
    const { watchRun } = await import('./watch-run.js');
    return watchRun(this.url, runId, { ...(this.token ? { token: this.token } : {}), ...opts });
  }

  /** `GET /api/v1/agents`: every known agent with its slots (the API's `{ agents }`, unwrapped). */
  async agents(): Promise<AgentView[]> {
    const body = await this.request<{ agents: AgentView[] }>('GET', '/api/v1/agents');
    return body.agents;
  }

  /** `GET /healthz`. */
  health(): Promise<Health> {
    return this.request<Health>('GET', '/healthz');
  }

  /**
   * `POST /api/v1/apps` (multipart): uploads a build file, streamed from disk. The reply's
   * `outcome` says whether the version got it (`created`, `replaced`) or already had exactly
   * these bytes (`unchanged`). Throws `validation_failed` when the file cannot be read.
   * @example const b = await client.uploadApp({ app_version_id: 'xyz123', platform: 'android', file: 'app-release.apk' }); console.log(b.sha256);
   */
  async uploadApp(req: { app_version_id: string; platform: Platform; file: string }): Promise<AppUploadReply> {
    const { openAsBlob } = await import('node:fs');
    let blob: Blob;
    try {
      blob = (await openAsBlob(req.file)) as Blob;
    } catch (err) {
      throw new QgError('validation_failed', `cannot read the build file ${req.file}: ${(err as Error).message}`, { file: 'cannot be read' }, { cause: err });
    }
    const form = new FormData();
    form.append('app_version_id', req.app_version_id);
    form.append('platform', req.platform);
    form.append('file', blob, basename(req.file));
    return this.send<AppUploadReply>('POST', '/api/v1/apps', { body: form }, this.uploadTimeoutMs);
  }

  /** `POST /api/v1/apps` (JSON): registers a build by URL; the coordinator reads it once to hash it. */
  registerAppUrl(req: AppUrlRegistration): Promise<AppUploadReply> {
    return this.send<AppUploadReply>('POST', '/api/v1/apps', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(req) }, this.uploadTimeoutMs);
  }

  /** `GET /api/v1/apps/:app_version_id`. Throws `build_not_found` when the version has no build. */
  getApp(appVersionId: string): Promise<AppBuildView> {
    return this.request<AppBuildView>('GET', `/api/v1/apps/${encodeURIComponent(appVersionId)}`);
  }

  private request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const init = body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {};
    return this.send<T>(method, path, init, this.requestTimeoutMs);
  }

  private async send<T>(method: 'GET' | 'POST', path: string, init: { headers?: Record<string, string>; body?: string | FormData }, timeoutMs: number): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: { accept: 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...init.headers },
        body: init.body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const reason =
        err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
          ? `no answer within ${timeoutMs} ms`
          : networkReason(err);
      throw new QgError('coordinator_unreachable', `cannot reach the coordinator at ${this.url}: ${reason}`, undefined, { cause: err });
    }

    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new QgError('coordinator_unreachable', `cannot reach the coordinator at ${this.url}: the answer was cut off (${networkReason(err)})`, undefined, { cause: err });
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }

    if (res.ok) {
      if (json === undefined) {
        throw new QgError('internal', `the coordinator at ${this.url} answered ${method} ${path} with something that is not JSON`);
      }
      return json as T;
    }
    throw withAdvice(errorFromAnswer(this.url, method, path, res, json), this.url, this.token);
  }
}

/** What to do about a refused token, added to the coordinator's own reason. */

/** Turns a non-2xx answer into a `QgError`, keeping the server's own code, message and fields when it sent them. */
function errorFromAnswer(url: string, method: string, path: string, res: Response, json: unknown): QgError {
  const e = (json as { error?: { code?: unknown; message?: unknown; fields?: unknown } } | undefined)?.error;
  if (e && isErrorCode(e.code)) {
    const message = typeof e.message === 'string' && e.message ? e.message : e.code;
    const fields = e.fields && typeof e.fields === 'object' ? (e.fields as FieldErrors) : undefined;
    return new QgError(e.code, message, fields);
  }
  // Not a qgjob error body: a proxy, another server on that port, or a crash before the error handler.
  const what = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  if (res.status >= 502 && res.status <= 504) {
    return new QgError('coordinator_unreachable', `cannot reach the coordinator at ${url}: ${what} from a gateway`);
  }
  if (res.status === 404) return new QgError('not_found', `${method} ${path} is not a qgjob endpoint at ${url} (${what}); is this a qgjob coordinator?`);
  if (res.status === 400) return new QgError('validation_failed', `the coordinator rejected the request (${what})`);
  return new QgError('internal', `unexpected answer from the coordinator at ${url} to ${method} ${path}: ${what}`);
}

// ───────────────────────────── /watch ─────────────────────────────

export interface WatchOptions extends WatchConnectionOptions {
  /** Resume after this event id: events with `event_id <= afterEventId` are not delivered. Default 0 (all). */
  afterEventId?: number;
  /** Called once per event, in `event_id` order, never twice for the same id. */
  onEvent?: (event: JobEvent) => void;
  /** Called after each (re)subscription with the job as the coordinator sees it then. */
  onSubscribed?: (job: JobView) => void;
}

const isJobEvent = (e: unknown, jobId: string): e is JobEvent =>
  !!e &&
  typeof e === 'object' &&
  (e as JobEvent).job_id === jobId &&
  Number.isInteger((e as JobEvent).event_id) &&
  typeof (e as JobEvent).type === 'string';

/**
 * Follows one job over the `/watch` namespace until it ends, and resolves with the final `JobView`
 * (the payload of `end`).
 *
 * - Events reach `onEvent` in order, each once: the watcher remembers the last `event_id` it
 *   delivered, drops anything at or below it, and after a reconnect subscribes again with
 *   `after_event_id` = that id, so the coordinator replays exactly what was missed.
 * - It rejects with `coordinator_unreachable` when the first connection does not succeed within
 *   `connectTimeoutMs`, or a later outage lasts longer than `reconnectTimeoutMs`; with the
 *   coordinator's own code when it refuses the subscription (e.g. `job_not_found`).
 *
 * @example
 * const job = await watchJob('http://127.0.0.1:8080', jobId, { onEvent: (e) => e.type === 'log' && e.lines.forEach((l) => console.log(l.text)) });
 * console.log(job.status); // 'passed'
 */
export function watchJob(url: string, jobId: string, opts: WatchOptions = {}): Promise<JobView> {
  let lastEventId = opts.afterEventId ?? 0;
  return followWatch<JobView>(url, opts, (w) => {
    w.socket.on('event', (e) => {
      if (w.settled() || !isJobEvent(e, jobId)) return;
      if (e.event_id <= lastEventId) return; // a replay of something already delivered
      lastEventId = e.event_id;
      try {
        opts.onEvent?.(e);
      } catch (err) {
        w.fail(err);
      }
    });
    w.socket.on('end', (p) => {
      if (w.settled() || !p || p.job_id !== jobId) return;
      w.resolve(p.job);
    });
    // After a reconnect: replay exactly what was missed.
    return () =>
      void w.subscribe<{ job: JobView }>('subscribe', { job_id: jobId, after_event_id: lastEventId }).then((ack) => {
        if (!ack) return;
        try {
          opts.onSubscribed?.(ack.job);
        } catch (err) {
          w.fail(err);
        }
      });
  });
}
