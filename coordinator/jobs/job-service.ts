/**
 * The job service: every move of a job goes through here, one job at a time (a per-job lock), as
 * one guarded write to the store followed by the event to watchers. The store is the truth; the
 * service keeps the unfinished jobs (an index rebuilt from the store at start-up) and the queues.
 */
import {
  type ErrorReason,
  type FinishedPayload,
  type JobEvent,
  type JobMove,
  type JobSpec,
  type JobState,
  type JobView,
  type LogChunkPayload,
  type StartedPayload,
  QgError,
  isFinal,
  nextState,
} from '../../shared/index.js';
import { JobQueues, type QueuedJob } from '../scheduler/index.js';
import { type JobEventRow, type JobFilter, type JobRow, type JobStore, type TestCaseRow, type VideoResultRow, isStoreUnavailable } from '../store/index.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { type JobObserver, NO_OBSERVER } from './job-observer.js';
import { newAttemptId, newJobId } from '../util/ids.js';
import { toJobEvent, toJobView, type InstallEventData, type StateEventData } from './job-view.js';
import { type BackoffOptions, DEFAULT_BACKOFF, decideRetry } from './retry-policy.js';

/** Where job events go once they are stored (the watch hub). */
export interface JobEventSink {
  publish(event: JobEvent): void;
  /** The job reached a final state; `job` is how it ended. */
  end(jobId: string, job: JobView): void;
  /** A job of a run changed state (after its `event`); `job` is it after the move, `eventId` the move's event id. */
  runJobMoved?(job: JobView, eventId: number): void;
}

/** The slot an attempt runs on. */
export interface SlotRef {
  agentId: string;
  slotId: string;
  /** `<agentId>/<slotId>` */
  slotKey: string;
}

export class JobService {
  readonly queues = new JobQueues();
  /** Unfinished jobs as stored. Changed only under the job's lock, after the store took the write. */
  readonly #active = new Map<string, JobRow>();
  readonly #lock = new KeyedLock();
  /** Called whenever a job enters a queue, so the dispatcher looks for a slot. */
  onQueued: () => void = () => {};
  /** Called whenever an unfinished job's row is replaced or the job ends (the dispatcher re-reads what the slots holding it run). */
  onChanged: (jobId: string) => void = () => {};
  /**
   * Explains why queued jobs wait, as of now (set by the dispatcher, which knows the slots): call it
   * once per answer and ask the function it returns about each job (they share one scheduling round).
   */
  waitingReasons: () => (jobId: string) => string | null = () => () => null;
  /** Told about submits, starts, installs, ends and log lines once stored (the metrics). */
  observer: JobObserver = NO_OBSERVER;

  /** Jobs waiting out a retry backoff before they re-enter their queue. */
  readonly #delayed = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly store: JobStore,
    private readonly sink: JobEventSink,
    private readonly now: () => number = Date.now,
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** Stops the backoff timers (the coordinator is closing). */
  close(): void {
    for (const t of this.#delayed.values()) clearTimeout(t);
    this.#delayed.clear();
  }

  /** Queues a queued job now, or when its backoff ends. */
  #enqueue(row: JobRow): void {
    const wait = row.notBeforeMs === null ? 0 : Number(row.notBeforeMs) - this.now();
    if (wait <= 0) {
      this.queues.add(toQueued(row));
      this.onQueued();
      return;
    }
    const t = setTimeout(() => {
      this.#delayed.delete(row.id);
      const current = this.#active.get(row.id);
      if (current && current.status === 'queued') this.#enqueue({ ...current, notBeforeMs: null });
    }, wait);
    this.#delayed.set(row.id, t);
  }

  /** Runs `fn` while no other move of this job can happen (used by watchers to replay without a gap). */
  withJob<T>(jobId: string, fn: () => Promise<T>): Promise<T> {
    return this.#lock.run(jobId, fn);
  }

  /** Loads every unfinished job: queued ones back into the queues; returns the ones on a slot. */
  async recover(): Promise<JobRow[]> {
    const rows = await this.store.unfinishedJobs();
    const onSlots: JobRow[] = [];
    for (const row of rows) {
      this.#active.set(row.id, row);
      if (row.status === 'queued') this.#enqueue(row);
      else onSlots.push(row);
    }
    return onSlots;
  }

  /** Puts a queued job back into its queue (after a dispatch that could not be written). */
  reindex(jobId: string): void {
    const row = this.#active.get(jobId);
    if (row && row.status === 'queued' && !this.queues.has(jobId)) {
      this.queues.add(toQueued(row));
      this.onQueued();
    }
  }

  /** The unfinished job, if any. */
  active(jobId: string): JobRow | undefined {
    return this.#active.get(jobId);
  }

  /**
   * submit: stores a new queued job (durably: the answer comes after the commit), then queues it.
   * Errors: store_unavailable when the database does not take the write. Events: state → queued.
   */
  async submit(spec: JobSpec, resubmittedFrom: string | null = null): Promise<JobRow> {
    const { row, event } = newQueuedJob(spec, this.now(), { resubmittedFrom });
    try {
      await this.store.insertJob(row, event);
    } catch (cause) {
      if (!isStoreUnavailable(cause)) throw cause;
      throw new QgError('store_unavailable', 'the job could not be stored; it was not accepted, submit it again', undefined, { cause });
    }
    this.admit(row, event);
    return row;
  }

  /**
   * Takes a queued job that another writer already committed (a run's jobs, stored with their run
   * in one transaction) into the index and its queue, and publishes its first event.
   */
  admit(row: JobRow, event: JobEventRow): void {
    this.#active.set(row.id, row);
    this.observer.submitted();
    this.sink.publish(toJobEvent({ kind: 'event', row: event }));
    this.#enqueue(row);
  }

  /**
   * resubmit: a new job with the same spec as an ended one (e.g. from the `error` dead-letter list).
   * Errors: job_not_found, illegal_transition (the job has not ended).
   */
  async resubmit(jobId: string): Promise<JobRow> {
    const row = this.#active.get(jobId) ?? (await this.store.getJob(jobId));
    if (!row) throw new QgError('job_not_found', `no job with id ${jobId}`);
    if (!isFinal(row.status as JobState)) throw new QgError('illegal_transition', `job ${jobId} is ${row.status}; only an ended job can be resubmitted`);
    return this.submit(
      {
        org_id: row.orgId,
        app_version_id: row.appVersionId,
        test_path: row.testPath,
        priority: row.priority,
        target: row.target as JobSpec['target'],
        platform: row.platform as JobSpec['platform'],
        max_attempts: row.maxAttempts,
        timeout_ms: row.timeoutMs,
        test_retries: row.testRetries,
        build: (row.buildMode ?? 'auto') as JobSpec['build'],
      },
      row.id,
    );
  }

  /** Running jobs past their deadline. */
  overdue(nowMs: number): JobRow[] {
    const out: JobRow[] = [];
    for (const row of this.#active.values()) if (row.status === 'running' && row.deadlineMs !== null && Number(row.deadlineMs) <= nowMs) out.push(row);
    return out;
  }

  /** time_out: running → timed_out for the current attempt. False when the job moved on. Events: state → timed_out. */
  async timeOut(jobId: string, attemptId: string): Promise<boolean> {
    return this.withJob(jobId, async () => {
      const row = this.#active.get(jobId);
      if (!row || row.attemptId !== attemptId || row.status !== 'running') return false;
      return this.#move(
        row,
        'time_out',
        attemptId,
        { finishedAtMs: this.now(), errorReason: 'timed_out', errorMessage: `the attempt ran past its ${row.timeoutMs} ms deadline` },
        `deadline of ${row.timeoutMs} ms passed`,
      );
    });
  }

  /**
   * assign: queued → assigned on `slot`, as a new attempt (attempts + 1, a fresh attempt id).
   * Returns null when the job is no longer queued (cancelled meanwhile). Events: state → assigned.
   */
  async assign(jobId: string, slot: SlotRef, why?: string): Promise<{ row: JobRow; attemptId: string } | null> {
    return this.withJob(jobId, async () => {
      const row = this.#active.get(jobId);
      if (!row || row.status !== 'queued') return null;
      const attempt = row.attempts + 1;
      const attemptId = newAttemptId(jobId, attempt);
      const now = this.now();
      const ok = await this.#move(row, 'assign', undefined, {
        attempts: attempt,
        attemptId,
        agentId: slot.agentId,
        slotId: slot.slotId,
        assignedAtMs: now,
        startedAtMs: null,
        installedBuild: null,
      }, `attempt ${attempt} on ${slot.slotKey}${why ? `: ${why}` : ''}`);
      return ok ? { row: this.#active.get(jobId)!, attemptId } : null;
    });
  }

  /**
   * start: assigned → running for the current attempt; records an install if the agent had to
   * install the build first. Returns false for a stale attempt. Events: install?, state → running.
   */
  async start(p: StartedPayload, slotId: string): Promise<boolean> {
    return this.withJob(p.job_id, async () => {
      const row = this.#active.get(p.job_id);
      if (row && row.attemptId === p.attempt_id && row.status === 'running') return true; // resent after a lost ack
      if (!row || row.attemptId !== p.attempt_id || row.status !== 'assigned') return false;
      const now = this.now();
      const extra: JobEventRow[] = [];
      if (p.install) {
        const data: InstallEventData = { slot_id: slotId, app_version_id: p.install.app_version_id, duration_ms: p.install.duration_ms };
        extra.push({ jobId: row.id, eventId: row.lastEventId + 1, type: 'install', attempt: row.attempts, data: JSON.stringify(data), atMs: now });
      }
      const ok = await this.#move(row, 'start', p.attempt_id, { startedAtMs: now, deadlineMs: now + row.timeoutMs, installedBuild: p.install !== null }, null, extra);
      if (ok) this.observer.started(p.install !== null);
      return ok;
    });
  }

  /** log: stores a chunk of the current attempt and publishes it. 'duplicate' for a resent chunk, 'stale' for an old attempt. */
  async log(p: LogChunkPayload): Promise<'stored' | 'duplicate' | 'stale'> {
    return this.withJob(p.job_id, async () => {
      const row = this.#active.get(p.job_id);
      if (!row || row.attemptId !== p.attempt_id || (row.status !== 'assigned' && row.status !== 'running')) return 'stale';
      const now = this.now();
      const chunk = {
        jobId: row.id,
        attemptId: p.attempt_id,
        attempt: row.attempts,
        seq: p.seq,
        eventId: row.lastEventId + 1,
        lines: JSON.stringify(p.lines),
        atMs: now,
      };
      const r = await this.store.appendLog(chunk);
      if (r === 'stored') {
        this.observer.logLines(p.lines.length);
        this.#active.set(row.id, { ...row, lastEventId: chunk.eventId, updatedAtMs: now });
        this.onChanged(row.id);
        // The lines as they came (not parsed back from the stored text): one JSON pass less per chunk.
        this.sink.publish({ job_id: row.id, event_id: chunk.eventId, at: new Date(now).toISOString(), type: 'log', attempt: chunk.attempt, lines: p.lines });
      }
      return r;
    });
  }

  /**
   * finish: the agent's result for the current attempt. `passed`/`failed` end the job with its test
   * cases and video. `error` (our side broke) runs the job again elsewhere while attempts remain,
   * else ends it in `error`. Returns 'finished' again for a resent result of the attempt that
   * ended the job, 'not_started' for a test result before `started`, and 'stale' for an attempt
   * that is no longer current.
   */
  async finish(p: FinishedPayload, slotKey: string): Promise<'finished' | 'requeued' | 'stale' | 'not_started'> {
    return this.withJob(p.job_id, async () => {
      const row = this.#active.get(p.job_id);
      if (!row) {
        const ended = await this.store.getJob(p.job_id);
        return ended && ended.attemptId === p.attempt_id && ended.status === (p.outcome === 'error' ? 'error' : p.outcome) ? 'finished' : 'stale';
      }
      if (row.attemptId !== p.attempt_id || (row.status !== 'running' && row.status !== 'assigned')) return 'stale';
      if (p.outcome === 'error') {
        const reason = p.error_reason ?? 'runner_error';
        const message = p.error_message ?? 'the agent could not run the spec';
        return (await this.#retryOrGiveUp(row, reason, message, slotKey)) ? 'requeued' : 'finished';
      }
      if (row.status === 'assigned') return 'not_started';
      const now = this.now();
      const testCases: TestCaseRow[] = p.test_cases.map((t, i) => ({
        jobId: row.id,
        attempt: row.attempts,
        position: i,
        title: t.title,
        fullTitle: t.full_title,
        status: t.status,
        durationMs: t.duration_ms,
        errorMessage: t.error_message,
        retry: t.retry,
      }));
      const video: VideoResultRow | null = p.video ? { jobId: row.id, platform: p.video.platform, videoUrl: p.video.url, timestamp: new Date(now) } : null;
      const move: JobMove = p.outcome === 'passed' ? 'pass' : 'fail';
      const ok = await this.#move(
        row,
        move,
        p.attempt_id,
        {
          finishedAtMs: now,
          durationMs: p.duration_ms,
          errorReason: p.outcome === 'failed' ? 'test_failed' : null,
          errorMessage: p.outcome === 'failed' ? (p.error_message ?? 'the test failed') : null,
          videoNote: p.video_note,
        },
        p.outcome === 'failed' ? p.error_message : null,
        [],
        { testCases, video },
      );
      return ok ? 'finished' : 'stale';
    });
  }

  /**
   * An attempt was lost (lease expired, assignment not acknowledged, agent refused it): run the job
   * again while attempts remain (avoiding `slotKey`), else end it in `error`. False for a stale attempt.
   */
  async attemptLost(jobId: string, attemptId: string, reason: ErrorReason, message: string, slotKey: string | null): Promise<boolean> {
    return this.withJob(jobId, async () => {
      const row = this.#active.get(jobId);
      if (!row || row.attemptId !== attemptId || (row.status !== 'assigned' && row.status !== 'running')) return false;
      await this.#retryOrGiveUp(row, reason, message, slotKey);
      return true;
    });
  }

  /**
   * cancel: queued | assigned | running → cancelled. Returns the job as it was before, so the caller
   * can tell the agent. Errors: job_not_found, illegal_transition (already final).
   */
  async cancel(jobId: string, message = 'cancelled by request'): Promise<JobRow> {
    return this.withJob(jobId, async () => {
      const row = this.#active.get(jobId) ?? (await this.store.getJob(jobId));
      if (!row) throw new QgError('job_not_found', `no job with id ${jobId}`);
      nextState(row.status as JobState, 'cancel'); // throws illegal_transition when final
      const ok = await this.#move(row, 'cancel', row.attemptId ?? undefined, { finishedAtMs: this.now(), errorReason: null }, message);
      if (!ok) throw new QgError('illegal_transition', `job ${jobId} changed while it was being cancelled; try again`);
      return row;
    });
  }

  /**
   * The job as the API shows it; `waiting` explains a queued one (pass one `waitingReasons()` to
   * share its scheduling round among many views). Errors: job_not_found.
   */
  async view(jobId: string, waiting: (jobId: string) => string | null = this.waitingReasons()): Promise<JobView> {
    const row = this.#active.get(jobId) ?? (await this.store.getJob(jobId));
    if (!row) throw new QgError('job_not_found', `no job with id ${jobId}`);
    const [tests, video] = isFinal(row.status as JobState) ? await Promise.all([this.store.getTestCases(jobId), this.store.getVideo(jobId)]) : [[], null];
    return toJobView(row, tests, video, row.status === 'queued' ? waiting(jobId) : null);
  }

  /** A page of jobs, newest first, with the ids for the next page. */
  async list(filter: JobFilter, limit: number, cursor?: string): Promise<{ jobs: JobView[]; nextCursor: string | null }> {
    const rows = await this.store.listJobs(filter, limit + 1, cursor);
    const page = rows.slice(0, limit);
    const waiting = this.waitingReasons();
    const jobs = await Promise.all(page.map((r) => this.view(r.id, waiting)));
    return { jobs, nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  async #retryOrGiveUp(row: JobRow, reason: ErrorReason, message: string, slotKey: string | null): Promise<boolean> {
    // A handed-back attempt (agent shutdown) says nothing bad about the job or the fleet: no backoff.
    // Attempts the job never really had (refused by the agent, shut down, cloud account full) are not counted.
    const free = reason === 'agent_shutdown' || reason === 'assignment_refused' || reason === 'cloud_quota';
    const attempts = free ? Math.max(0, row.attempts - 1) : row.attempts;
    const decision = decideRetry({ attempts, maxAttempts: row.maxAttempts }, reason === 'agent_shutdown' ? { baseMs: 0, maxMs: 0 } : this.backoff, this.random());
    const avoid = slotKey && !row.avoidSlots.split(',').includes(slotKey) ? [row.avoidSlots, slotKey].filter(Boolean).join(',') : row.avoidSlots;
    if (decision.action === 'requeue') {
      await this.#move(
        row,
        'requeue',
        row.attemptId ?? undefined,
        {
          attempts,
          attemptId: null,
          agentId: null,
          slotId: null,
          deadlineMs: null,
          avoidSlots: avoid,
          errorReason: reason,
          errorMessage: message,
          notBeforeMs: this.now() + decision.delayMs,
        },
        `attempt ${row.attempts} lost (${reason}): ${message}; queued again in ${decision.delayMs} ms${free ? ' (not counted as an attempt)' : ''}`,
      );
      return true;
    }
    await this.#move(
      row,
      'give_up',
      row.attemptId ?? undefined,
      { finishedAtMs: this.now(), errorReason: reason, errorMessage: `${message} (gave up after ${row.attempts} attempt(s))` },
      `${reason}: ${message}; gave up after ${row.attempts} attempt(s)`,
    );
    return false;
  }

  /**
   * The one place a job changes state: a guarded write (status and attempt as this service knows
   * them), then the in-memory index, the queues and the watchers. False when the store refused.
   */
  async #move(
    row: JobRow,
    move: JobMove,
    attemptId: string | undefined,
    set: Partial<JobRow>,
    message: string | null,
    before: JobEventRow[] = [],
    finish?: { testCases: TestCaseRow[]; video: VideoResultRow | null },
  ): Promise<boolean> {
    const from = row.status as JobState;
    const to = nextState(from, move);
    const now = this.now();
    const eventId = row.lastEventId + before.length + 1;
    const event = stateEvent(row.id, eventId, set.attempts ?? row.attempts, now, { from, to, message });
    const changes: Partial<JobRow> = { ...set, status: to, updatedAtMs: now, lastEventId: eventId };
    const guard = { jobId: row.id, from: [from], ...(attemptId !== undefined ? { attemptId } : {}) };
    const ok = finish
      ? await this.store.finish(guard, changes, event, finish.testCases, finish.video)
      : await this.store.transition(guard, changes, [...before, event]);
    if (!ok) return false;
    const next: JobRow = { ...row, ...changes };
    this.queues.remove(row.id);
    const timer = this.#delayed.get(row.id);
    if (timer) {
      clearTimeout(timer);
      this.#delayed.delete(row.id);
    }
    if (isFinal(to)) {
      this.#active.delete(row.id);
      this.observer.finished(to);
    } else this.#active.set(row.id, next);
    this.onChanged(row.id);
    for (const e of before) this.sink.publish(toJobEvent({ kind: 'event', row: e }));
    this.sink.publish(toJobEvent({ kind: 'event', row: event }));
    if (to === 'queued') this.#enqueue(next);
    const view = isFinal(to) || next.runId ? toJobView(next, finish?.testCases ?? [], finish?.video ?? null, to === 'queued' ? this.waitingReasons()(row.id) : null) : null;
    if (view && next.runId) this.sink.runJobMoved?.(view, eventId);
    if (view && isFinal(to)) this.sink.end(row.id, view);
    return true;
  }
}

/**
 * A new queued job from `spec` and its first event (`state → queued`), not yet stored.
 * @example const { row, event } = newQueuedJob(spec, Date.now(), { resubmittedFrom: null });
 */
export function newQueuedJob(
  spec: JobSpec,
  now: number,
  opts: { resubmittedFrom: string | null; runId?: string; runPosition?: number },
): { row: JobRow; event: JobEventRow } {
  const row: JobRow = {
    id: newJobId(now),
    orgId: spec.org_id,
    appVersionId: spec.app_version_id,
    testPath: spec.test_path,
    priority: spec.priority,
    target: spec.target,
    platform: spec.platform,
    status: 'queued',
    attempts: 0,
    maxAttempts: spec.max_attempts,
    attemptId: null,
    agentId: null,
    slotId: null,
    avoidSlots: '',
    createdAtMs: now,
    updatedAtMs: now,
    assignedAtMs: null,
    startedAtMs: null,
    finishedAtMs: null,
    durationMs: null,
    installedBuild: null,
    errorReason: null,
    errorMessage: null,
    videoNote: null,
    lastEventId: 1,
    timeoutMs: spec.timeout_ms,
    testRetries: spec.test_retries,
    notBeforeMs: null,
    deadlineMs: null,
    resubmittedFrom: opts.resubmittedFrom,
    buildMode: spec.build,
    runId: opts.runId ?? null,
    runPosition: opts.runPosition ?? null,
  };
  const event = stateEvent(row.id, 1, 0, now, { from: null, to: 'queued', message: opts.resubmittedFrom ? `resubmitted from ${opts.resubmittedFrom}` : null });
  return { row, event };
}

function stateEvent(jobId: string, eventId: number, attempt: number, atMs: number, data: StateEventData): JobEventRow {
  return { jobId, eventId, type: 'state', attempt, data: JSON.stringify(data), atMs };
}

/**
 * When a queued job entered its queue (epoch ms): its last transition (submit or requeue), or the
 * end of its retry backoff when that is later.
 */
export function queuedSinceMs(row: Pick<JobRow, 'updatedAtMs' | 'notBeforeMs'>): number {
  return Math.max(Number(row.updatedAtMs), row.notBeforeMs === null ? 0 : Number(row.notBeforeMs));
}

function toQueued(row: JobRow): QueuedJob {
  return {
    jobId: row.id,
    orgId: row.orgId,
    appVersionId: row.appVersionId,
    priority: row.priority,
    target: row.target as QueuedJob['target'],
    platform: row.platform as QueuedJob['platform'],
    submittedAtMs: Number(row.createdAtMs),
    avoidSlots: row.avoidSlots ? row.avoidSlots.split(',') : [],
  };
}
