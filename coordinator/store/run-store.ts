/**
 * The runs' rows (`runs`, and `jobs.run_id`), on the job store's connection. A run and all its jobs
 * (with each job's first event) are written in one transaction: a reader sees the whole run or none
 * of it. A run's status is derived from its jobs' (shared `runStatus`); the list filter by status
 * is the same rule as SQL, so a page holds `limit` matching runs.
 */
import { type EntityManager, type FilterQuery, UniqueConstraintViolationException } from '@mikro-orm/core';
import { FINAL_STATES, JOB_STATES, type RunState } from '../../shared/index.js';
import { JobEntity, JobEventEntity, RunEntity, TestCaseEntity, VideoResultEntity, type JobEventRow, type JobRow, type RunRow, type TestCaseRow, type VideoResultRow } from './entities.js';

export interface RunFilter {
  orgId?: string;
  status?: RunState;
}

/** Rows per `IN (…)` list: far below every driver's bound on bound parameters. */
const IN_CHUNK = 500;
/** Rows per multi-row insert (a job row has about 35 columns). */
const INSERT_CHUNK = 200;

async function inChunks<T>(ids: readonly string[], fetch: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += IN_CHUNK) out.push(...(await fetch(ids.slice(i, i + IN_CHUNK))));
  return out;
}

const sqlList = (states: readonly string[]) => states.map((s) => `'${s}'`).join(', ');
const UNFINISHED = JOB_STATES.filter((s) => !FINAL_STATES.has(s));

/**
 * `runStatus` (shared/run.ts) over a run's grouped jobs `j`, as a SQL expression for MySQL and
 * SQLite. The store tests check it against `runStatus` for every kind of run.
 */
const RUN_STATUS_SQL = `case
  when sum(case when j.status in (${sqlList(UNFINISHED)}) then 1 else 0 end) > 0 then
    case when sum(case when j.status = 'queued' then 1 else 0 end) = count(*) then 'queued' else 'running' end
  when sum(case when j.status = 'passed' then 1 else 0 end) = count(*) then 'passed'
  when sum(case when j.status in ('failed', 'timed_out') then 1 else 0 end) > 0 then 'failed'
  when sum(case when j.status = 'error' then 1 else 0 end) > 0 then 'error'
  else 'cancelled'
end`;

export class RunStore {
  /** @param em a fresh EntityManager per call, e.g. `() => jobStore.entityManager()` */
  constructor(private readonly em: () => EntityManager) {}

  /**
   * Stores a run with its jobs and their first events in one transaction. The run row goes last,
   * so a second run with the same (org, idempotency key) fails on it after its jobs were written,
   * and the rollback takes them away again. Returns false (nothing written) when the key is taken.
   */
  async insertRun(run: RunRow, jobs: JobRow[], events: JobEventRow[]): Promise<boolean> {
    try {
      await this.em().transactional(async (em) => {
        // In slices: one statement's bound parameters stay far below SQLite's limit (32 766).
        for (let i = 0; i < jobs.length; i += INSERT_CHUNK) await em.insertMany(JobEntity, jobs.slice(i, i + INSERT_CHUNK));
        for (let i = 0; i < events.length; i += INSERT_CHUNK) await em.insertMany(JobEventEntity, events.slice(i, i + INSERT_CHUNK));
        await em.insert(RunEntity, run);
      });
      return true;
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException && run.idempotencyKey !== null && (await this.byKey(run.orgId, run.idempotencyKey))) return false;
      throw err;
    }
  }

  async get(id: string): Promise<RunRow | null> {
    return this.em().findOne(RunEntity, { id });
  }

  async byKey(orgId: string, key: string): Promise<RunRow | null> {
    return this.em().findOne(RunEntity, { orgId, idempotencyKey: key });
  }

  /** The jobs of these runs, each run's in test order. */
  async jobsOf(runIds: readonly string[]): Promise<JobRow[]> {
    return inChunks(runIds, (chunk) => this.em().find(JobEntity, { runId: { $in: chunk } }, { orderBy: { runId: 'asc', runPosition: 'asc' } }));
  }

  /** How many jobs of the run have not ended. */
  async unfinishedCount(runId: string): Promise<number> {
    return this.em().count(JobEntity, { runId, status: { $in: UNFINISHED } });
  }

  async testCasesOf(jobIds: readonly string[]): Promise<TestCaseRow[]> {
    return inChunks(jobIds, (chunk) => this.em().find(TestCaseEntity, { jobId: { $in: chunk } }, { orderBy: { jobId: 'asc', position: 'asc' } }));
  }

  async videosOf(jobIds: readonly string[]): Promise<VideoResultRow[]> {
    return inChunks(jobIds, (chunk) => this.em().find(VideoResultEntity, { jobId: { $in: chunk } }));
  }

  /** Newest first; `cursor` is the last run id of the previous page (ids sort by creation time). */
  async list(filter: RunFilter, limit: number, cursor?: string): Promise<RunRow[]> {
    if (filter.status === undefined) {
      const where: FilterQuery<RunRow> = {};
      if (filter.orgId !== undefined) where.orgId = filter.orgId;
      if (cursor !== undefined) where.id = { $lt: cursor };
      return this.em().find(RunEntity, where, { orderBy: { id: 'desc' }, limit });
    }
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.orgId !== undefined) {
      where.push('r.org_id = ?');
      params.push(filter.orgId);
    }
    if (cursor !== undefined) {
      where.push('r.id < ?');
      params.push(cursor);
    }
    params.push(filter.status, limit);
    const rows = (await this.em()
      .getConnection()
      .execute(
        `select r.id as id from runs r join jobs j on j.run_id = r.id ${where.length ? `where ${where.join(' and ')}` : ''} ` +
          `group by r.id having ${RUN_STATUS_SQL} = ? order by r.id desc limit ?`,
        params,
      )) as { id: string }[];
    if (rows.length === 0) return [];
    const runs = await this.em().find(RunEntity, { id: { $in: rows.map((r) => r.id) } });
    return runs.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }
}
