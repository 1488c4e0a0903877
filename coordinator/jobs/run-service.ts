/**
 * The run service: a suite submitted as one unit. Submitting a run stores the run, all its jobs and
 * their first events in one transaction, and only then hands the jobs to the job service's queues;
 * every later move of a job is the job service's, one job at a time. A run holds no state of its
 * own: its status, counts and end are derived from its jobs (`runStatus`).
 *
 * Idempotency: a run submitted with an `idempotency_key` is the only run of that key in its org
 * (a UNIQUE index). Submitting the key again with an equal payload returns that run; with a
 * different payload it is refused (`idempotency_conflict`). Two submissions racing with one key
 * both try to insert; the database lets one win and the other returns the winner.
 */
import {
  JOB_STATES,
  type JobSpec,
  type JobState,
  type JobView,
  QgError,
  RERUN_STATES,
  type RerunSpecInput,
  type RunList,
  type RunSpec,
  type RunView,
  isFinal,
  runStatus,
} from '../../shared/index.js';
import { type JobRow, type RunFilter, type RunRow, type RunStore, type TestCaseRow, type VideoResultRow, isStoreUnavailable } from '../store/index.js';
import { newRunId } from '../util/ids.js';
import { type JobService, newQueuedJob } from './job-service.js';
import { toJobView } from './job-view.js';

/** The job fields every job of a run shares, as stored in `runs.job_spec`. */
export type SharedJobFields = Omit<JobSpec, 'test_path'>;

/** `runs.job_spec`: the shared fields in a fixed key order. */
function sharedFields(spec: RunSpec): SharedJobFields {
  return {
    org_id: spec.org_id,
    app_version_id: spec.app_version_id,
    priority: spec.priority,
    target: spec.target,
    platform: spec.platform,
    max_attempts: spec.max_attempts,
    timeout_ms: spec.timeout_ms,
    test_retries: spec.test_retries,
    build: spec.build,
  };
}

export interface SubmittedRun {
  run: RunRow;
  /** The run's jobs in test order. */
  jobs: JobRow[];
  /** False when the idempotency key returned a run that already existed. */
  created: boolean;
}

/** How many jobs a run cancel moves at once. */
const CANCEL_PARALLELISM = 16;

export class RunService {
  /**
   * @param check refuses a run's job fields before anything is stored (the build registry's submit
   *   rule, e.g. `build_not_found`); it also runs for reruns.
   */
  constructor(
    private readonly store: RunStore,
    private readonly jobs: JobService,
    private readonly check: (spec: SharedJobFields) => Promise<void> = async () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * submit: stores a run of queued jobs (one per test, in order) atomically, then queues them.
   * `from` names, per test, the job a rerun repeats. Errors: idempotency_conflict (the key names a
   * run with another payload), what `check` throws, store_unavailable (nothing was stored). Events: each job's
   * `state → queued`, after the commit.
   */
  async submit(spec: RunSpec, opts: { rerunOf?: string; from?: readonly string[] } = {}): Promise<SubmittedRun> {
    const key = spec.idempotency_key ?? null;
    if (key !== null) {
      const existing = await this.store.byKey(spec.org_id, key);
      if (existing) return this.#replay(existing, spec, opts.rerunOf ?? null);
    }
    const shared = sharedFields(spec);
    await this.check(shared);
    const now = this.now();
    const runId = newRunId(now);
    const made = spec.tests.map((test, i) =>
      newQueuedJob({ ...shared, test_path: test }, now, { resubmittedFrom: opts.from?.[i] ?? null, runId, runPosition: i }),
    );
    const run: RunRow = {
      id: runId,
      orgId: spec.org_id,
      appVersionId: spec.app_version_id,
      name: spec.name ?? null,
      idempotencyKey: key,
      rerunOf: opts.rerunOf ?? null,
      jobSpec: JSON.stringify(shared),
      total: spec.tests.length,
      createdAtMs: now,
    };
    let stored: boolean;
    try {
      stored = await this.store.insertRun(
        run,
        made.map((m) => m.row),
        made.map((m) => m.event),
      );
    } catch (cause) {
      if (!isStoreUnavailable(cause)) throw cause;
      throw new QgError('store_unavailable', 'the run could not be stored; nothing of it was accepted, submit it again', undefined, { cause });
    }
    if (!stored) {
      // Another submission with this key committed first: answer with its run.
      const winner = await this.store.byKey(spec.org_id, key!);
      if (!winner) throw new QgError('internal', `run with idempotency key ${key} vanished after a conflict`);
      return this.#replay(winner, spec, opts.rerunOf ?? null);
    }
    for (const m of made) this.jobs.admit(m.row, m.event);
    return { run, jobs: made.map((m) => m.row), created: true };
  }

  /** The existing run of an idempotency key, if `spec` asks for exactly it; else idempotency_conflict. */
  async #replay(existing: RunRow, spec: RunSpec, rerunOf: string | null): Promise<SubmittedRun> {
    const jobs = await this.store.jobsOf([existing.id]);
    const stored = JSON.parse(existing.jobSpec) as Record<string, unknown>;
    const asked = sharedFields(spec) as Record<string, unknown>;
    const differs = Object.keys(asked).filter((k) => stored[k] !== asked[k]);
    const tests = jobs.map((j) => j.testPath);
    if (tests.length !== spec.tests.length || tests.some((t, i) => t !== spec.tests[i])) differs.push('tests');
    if ((existing.name ?? undefined) !== spec.name) differs.push('name');
    if (existing.rerunOf !== rerunOf) differs.push('rerun_of');
    if (differs.length) {
      throw new QgError(
        'idempotency_conflict',
        `idempotency key "${existing.idempotencyKey}" already named run ${existing.id} with a different payload (${differs.join(', ')} differ); use a new key for a different run`,
        Object.fromEntries(differs.map((f) => [f, `differs from run ${existing.id}`])),
      );
    }
    return { run: existing, jobs, created: false };
  }

  /**
   * rerun: a new run of the ended run's failed jobs (RERUN_STATES: failed, error, timed_out,
   * cancelled), or of all of them, with the same job fields and `rerun_of` set. Errors:
   * run_not_found; illegal_transition while the run has unfinished jobs, or when nothing failed;
   * idempotency_conflict.
   */
  async rerun(runId: string, spec: { only: 'failed' | 'all'; idempotency_key?: RerunSpecInput['idempotency_key'] }): Promise<SubmittedRun> {
    const run = await this.#get(runId);
    const jobs = await this.store.jobsOf([run.id]);
    const unfinished = jobs.filter((j) => !isFinal(j.status as JobState));
    if (unfinished.length) {
      throw new QgError(
        'illegal_transition',
        `run ${run.id} still has ${unfinished.length} unfinished job(s); rerun it once it has ended (or cancel it first)`,
      );
    }
    const picked = spec.only === 'all' ? jobs : jobs.filter((j) => RERUN_STATES.has(j.status as JobState));
    if (picked.length === 0) {
      throw new QgError('illegal_transition', `run ${run.id} has no failed jobs to rerun: all ${jobs.length} passed (rerun with only "all" to run them again)`);
    }
    const shared = JSON.parse(run.jobSpec) as SharedJobFields;
    const next: RunSpec = {
      ...shared,
      tests: picked.map((j) => j.testPath),
      ...(run.name !== null ? { name: run.name } : {}),
      ...(spec.idempotency_key !== undefined ? { idempotency_key: spec.idempotency_key } : {}),
    };
    return this.submit(next, { rerunOf: run.id, from: picked.map((j) => j.id) });
  }

  /**
   * cancel: cancels every unfinished job of the run; `cancelled(before)` is told about each, so the
   * caller can stop it on its agent. Returns the run afterwards. Errors: run_not_found,
   * illegal_transition when every job had already ended.
   */
  async cancel(runId: string, cancelled: (before: JobRow) => void): Promise<RunView> {
    const run = await this.#get(runId);
    const unfinished = (await this.store.jobsOf([run.id])).filter((j) => !isFinal(j.status as JobState));
    if (unfinished.length === 0) {
      const view = await this.view(run.id);
      throw new QgError('illegal_transition', `run ${run.id} has already ended (${view.status}); there is nothing to cancel`);
    }
    for (let i = 0; i < unfinished.length; i += CANCEL_PARALLELISM) {
      await Promise.all(
        unfinished.slice(i, i + CANCEL_PARALLELISM).map(async (j) => {
          try {
            cancelled(await this.jobs.cancel(j.id, `cancelled with its run ${run.id}`));
          } catch (err) {
            // It ended meanwhile: nothing to cancel.
            if (!(err instanceof QgError && err.code === 'illegal_transition')) throw err;
          }
        }),
      );
    }
    return this.view(run.id);
  }

  /** The run as the API shows it. Errors: run_not_found. */
  async view(runId: string): Promise<RunView> {
    return (await this.snapshot(runId)).run;
  }

  /**
   * The run and, per job, the id of the last event the view includes (a watcher drops live
   * updates at or below it). Errors: run_not_found.
   */
  async snapshot(runId: string): Promise<{ run: RunView; eventIds: Record<string, number> }> {
    const run = await this.#get(runId);
    const jobs = await this.store.jobsOf([run.id]);
    const [view] = await this.#views([run], jobs);
    return { run: view!, eventIds: Object.fromEntries(jobs.map((j) => [j.id, j.lastEventId])) };
  }

  /** The org a run belongs to (for scoping). Errors: run_not_found. */
  async orgOf(runId: string): Promise<string> {
    return (await this.#get(runId)).orgId;
  }

  /** How many jobs of the run have not ended. */
  unfinishedCount(runId: string): Promise<number> {
    return this.store.unfinishedCount(runId);
  }

  /** A page of runs, newest first, with the cursor of the next page. */
  async list(filter: RunFilter, limit: number, cursor?: string): Promise<RunList> {
    const rows = await this.store.list(filter, limit + 1, cursor);
    const page = rows.slice(0, limit);
    const runs = await this.#views(page, await this.store.jobsOf(page.map((r) => r.id)));
    return { runs, next_cursor: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  async #get(runId: string): Promise<RunRow> {
    const run = await this.store.get(runId);
    if (!run) throw new QgError('run_not_found', `no run with id ${runId}`);
    return run;
  }

  /** RunViews of `runs` from their jobs (`jobs` holds every job of them, each run's in test order). */
  async #views(runs: readonly RunRow[], jobs: readonly JobRow[]): Promise<RunView[]> {
    const ended = jobs.filter((j) => isFinal(j.status as JobState)).map((j) => j.id);
    const [tests, videos] = await Promise.all([this.store.testCasesOf(ended), this.store.videosOf(ended)]);
    const testsOf = new Map<string, TestCaseRow[]>();
    for (const t of tests) (testsOf.get(t.jobId) ?? testsOf.set(t.jobId, []).get(t.jobId)!).push(t);
    const videoOf = new Map<string, VideoResultRow>(videos.map((v) => [v.jobId, v]));
    const jobsOf = new Map<string, JobView[]>();
    const waiting = this.jobs.waitingReasons();
    for (const j of jobs) {
      const final = isFinal(j.status as JobState);
      const view = toJobView(j, final ? (testsOf.get(j.id) ?? []) : [], final ? (videoOf.get(j.id) ?? null) : null, j.status === 'queued' ? waiting(j.id) : null);
      (jobsOf.get(j.runId!) ?? jobsOf.set(j.runId!, []).get(j.runId!)!).push(view);
    }
    return runs.map((r) => toRunView(r, jobsOf.get(r.id) ?? []));
  }
}

const iso = (ms: number): string => new Date(Number(ms)).toISOString();

/** A run row and its jobs' views (in test order) → the API's RunView. */
export function toRunView(run: RunRow, jobs: JobView[]): RunView {
  const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
  for (const j of jobs) counts[j.status]++;
  const done = jobs.filter((j) => isFinal(j.status)).length;
  const allDone = jobs.length > 0 && done === jobs.length;
  const finishedMs = allDone ? Math.max(...jobs.map((j) => Date.parse(j.finished_at ?? j.updated_at))) : null;
  return {
    run_id: run.id,
    org_id: run.orgId,
    app_version_id: run.appVersionId,
    name: run.name,
    idempotency_key: run.idempotencyKey,
    rerun_of: run.rerunOf,
    status: runStatus(jobs.map((j) => j.status)),
    total: run.total,
    done,
    counts,
    created_at: iso(run.createdAtMs),
    finished_at: finishedMs === null ? null : iso(finishedMs),
    duration_ms: finishedMs === null ? null : Math.max(0, finishedMs - Number(run.createdAtMs)),
    jobs,
  };
}
