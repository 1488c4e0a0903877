/**
 * The store: every fact about jobs, written before anyone is told. Transitions are guarded writes
 * (`UPDATE … WHERE id = ? AND status IN (…) AND attempt_id = ?`): zero rows means the move was
 * stale or illegal, and nothing changed. One implementation for SQLite (libsql) and MySQL.
 *
 * Writes go through group commit (group-commit.ts): writes of many jobs that arrive while a
 * transaction commits are written together in the next one, and each caller is answered (with its
 * own result) only after that COMMIT returned. `groupCommit: false` (or QGJOB_STORE_GROUP_COMMIT=off)
 * writes each one in its own MikroORM transaction instead, as before.
 *
 * SQLite runs in WAL mode with `synchronous = FULL`: a commit is on disk (fsynced) when it returns,
 * so an acknowledged write survives a power loss, not only a crash of the process. (WAL with
 * `synchronous = NORMAL` is faster but may lose the last commits on a power loss.)
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MikroORM, type EntityManager, type FilterQuery, type Options } from '@mikro-orm/core';
import type { JobState } from '../../shared/index.js';
import type { DatabaseConfig } from './database-url.js';
import { GroupCommitter, type GroupCommitOptions, type GroupCommitStats } from './group-commit.js';
import { MysqlWriter, type Mysql2Driver } from './mysql-writer.js';
import { SqliteWriter, type ConnectionPool, type LibsqlDatabase } from './sqlite-writer.js';
import { SqliteThreadWriter } from './sqlite-thread-writer.js';
import { Table, opBytes, opJobId, tablesSpec, type Guard, type LogResult, type Tables, type WriteOp, type WriteResult } from './write-ops.js';
import {
  ENTITIES,
  JobEntity,
  JobEventEntity,
  LogChunkEntity,
  TestCaseEntity,
  VideoResultEntity,
  type JobEventRow,
  type JobRow,
  type LogChunkRow,
  type TestCaseRow,
  type VideoResultRow,
} from './entities.js';

export type { Guard } from './write-ops.js';

/**
 * `maxBatchOps` defaults to 256 on SQLite (its commit blocks the event loop) and 1000 on MySQL;
 * `maxInFlight` to 2 on MySQL (a connection each) and is always 1 on SQLite (one writer).
 */
export interface JobStoreOptions extends GroupCommitOptions {
  /** Write through group commit (default true unless QGJOB_STORE_GROUP_COMMIT is `off`/`0`/`false`). */
  groupCommit?: boolean;
  /** SQLite only, for benchmarks: `normal` trades the last commits on a power loss for speed. Default `full`. */
  sqliteSynchronous?: 'full' | 'normal';
  /**
   * SQLite file databases only: group commit writes on a worker thread with its own connection, so
   * a commit's fsync does not stop the event loop (default true unless QGJOB_SQLITE_WRITER_THREAD
   * is `off`/`0`/`false`). Off: on MikroORM's connection, on the event loop.
   */
  sqliteWriterThread?: boolean;
}

/** The writers' tables, named as the MikroORM metadata names them. */
function tablesOf(orm: MikroORM): Tables {
  return {
    jobs: Table.of(orm, JobEntity),
    events: Table.of(orm, JobEventEntity),
    logs: Table.of(orm, LogChunkEntity),
    testCases: Table.of(orm, TestCaseEntity),
    videos: Table.of(orm, VideoResultEntity),
  };
}

/** How long a SQLite connection waits for the write lock the other one holds (ms). */
const SQLITE_BUSY_TIMEOUT_MS = 10_000;

export interface JobFilter {
  orgId?: string;
  status?: JobState;
  appVersionId?: string;
}

/** A stored event in the order watchers see them. */
export type StoredEvent = { kind: 'event'; row: JobEventRow } | { kind: 'log'; row: LogChunkRow };

/** The bits of knex (under MikroORM) that the batch writers use. */
interface KnexInternals {
  client: ConnectionPool<unknown> & { driver: unknown };
}

export class JobStore {
  readonly #committer: GroupCommitter<WriteOp, WriteResult> | null;
  readonly #mysqlWriter: MysqlWriter | null;
  readonly #threadWriter: SqliteThreadWriter | null;
  #closed = false;

  private constructor(
    private readonly orm: MikroORM,
    readonly kind: DatabaseConfig['kind'],
    writers: { committer: GroupCommitter<WriteOp, WriteResult>; mysql: MysqlWriter | null; thread: SqliteThreadWriter | null } | null,
  ) {
    this.#committer = writers?.committer ?? null;
    this.#mysqlWriter = writers?.mysql ?? null;
    this.#threadWriter = writers?.thread ?? null;
  }

  /** Connects, creates the database if missing, and creates or upgrades the schema (never drops). */
  static async open(db: DatabaseConfig, opts: JobStoreOptions = {}): Promise<JobStore> {
    const common: Partial<Options> = {
      entities: ENTITIES,
      debug: false,
      forceUtcTimezone: true,
      discovery: { warnWhenNoEntities: false },
      allowGlobalContext: false,
    };
    let orm: MikroORM;
    if (db.kind === 'sqlite') {
      const { LibSqlDriver } = await import('@mikro-orm/libsql');
      if (db.file !== ':memory:') mkdirSync(dirname(db.file), { recursive: true });
      const synchronous = opts.sqliteSynchronous === 'normal' ? 'normal' : 'full';
      orm = await MikroORM.init({
        ...common,
        driver: LibSqlDriver,
        dbName: db.file,
        // knex opens a new connection now and then: each one gets the durability setting.
        pool: {
          afterCreate(conn: LibsqlDatabase, done: (err: Error | null, conn: LibsqlDatabase) => void) {
            try {
              conn.exec(`pragma synchronous = ${synchronous}`);
              // The writer thread has a connection of its own: wait for its write lock, do not fail.
              conn.exec(`pragma busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
              done(null, conn);
            } catch (err) {
              done(err as Error, conn);
            }
          },
        },
      } as Options);
      // WAL: one fsync per commit instead of several, and readers do not block the writer. It is a
      // property of the file (kept across opens); an in-memory database has no journal to change.
      if (db.file !== ':memory:') await orm.em.getConnection().execute('pragma journal_mode = wal');
    } else {
      const { MySqlDriver } = await import('@mikro-orm/mysql');
      orm = await MikroORM.init({
        ...common,
        driver: MySqlDriver,
        host: db.host,
        port: db.port,
        user: db.user,
        password: db.password,
        dbName: db.dbName,
        pool: { min: 1, max: 10 },
      } as Options);
    }
    const generator = orm.getSchemaGenerator();
    await generator.ensureDatabase();
    await generator.updateSchema({ safe: true });
    const groupCommit = opts.groupCommit ?? !/^(off|0|false|no)$/i.test(process.env.QGJOB_STORE_GROUP_COMMIT ?? '');
    if (!groupCommit) return new JobStore(orm, db.kind, null);
    const tables = tablesOf(orm);
    const knex = (orm.em.getConnection() as unknown as { getKnex(): KnexInternals }).getKnex();
    const mysql = db.kind === 'mysql' ? new MysqlWriter(knex.client.driver as Mysql2Driver, db, tables) : null;
    const useThread =
      db.kind === 'sqlite' && db.file !== ':memory:' && (opts.sqliteWriterThread ?? !/^(off|0|false|no)$/i.test(process.env.QGJOB_SQLITE_WRITER_THREAD ?? ''));
    let thread: SqliteThreadWriter | null = null;
    if (useThread && db.kind === 'sqlite') {
      try {
        thread = await SqliteThreadWriter.start({ file: db.file, synchronous: opts.sqliteSynchronous === 'normal' ? 'normal' : 'full', busyTimeoutMs: SQLITE_BUSY_TIMEOUT_MS, tables: tablesSpec(tables) });
      } catch (err) {
        await orm.close(true);
        throw err;
      }
    }
    const writer = mysql ?? thread ?? new SqliteWriter(knex.client as ConnectionPool<LibsqlDatabase>, tables);
    // libsql commits synchronously: on the event loop (no thread) a smaller batch bounds that pause.
    const batching = {
      maxBatchOps: opts.maxBatchOps ?? (db.kind === 'sqlite' ? 256 : 1000),
      // SQLite has one writer: one batch at a time. MySQL: a second batch commits while the first does.
      maxInFlight: db.kind === 'sqlite' ? 1 : (opts.maxInFlight ?? 2),
      ...(opts.maxBatchBytes !== undefined ? { maxBatchBytes: opts.maxBatchBytes } : {}),
    };
    return new JobStore(orm, db.kind, { committer: new GroupCommitter(writer, opJobId, opBytes, batching), mysql, thread });
  }

  /** Finishes the queued writes, then closes the connections. Closing twice is harmless. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#committer?.close();
    await this.#mysqlWriter?.close();
    await this.#threadWriter?.close();
    await this.orm.close(true);
  }

  /** What group commit has done so far (batches, their sizes); null when it is off. */
  commitStats(): GroupCommitStats | null {
    return this.#committer?.stats() ?? null;
  }

  private em(): EntityManager {
    return this.orm.em.fork();
  }

  /** A fresh unit of work on this store's connection, for the sibling stores (BuildStore). */
  entityManager(): EntityManager {
    return this.em();
  }

  /** Stores a new job with its first event, atomically. */
  async insertJob(job: JobRow, event: JobEventRow): Promise<void> {
    if (this.#committer) {
      await this.#committer.submit({ kind: 'insert', job, event });
      return;
    }
    await this.em().transactional(async (em) => {
      await em.insert(JobEntity, job);
      await em.insert(JobEventEntity, event);
    });
  }

  /**
   * One guarded transition. Inputs: the guard, the columns to set, the events to record, and an
   * optional extra write in the same transaction. Output: true if the move happened; false (and
   * nothing written) if the job was not in a `from` state or not on the guarded attempt.
   * A transition with an `extra` write runs in a transaction of its own, outside group commit.
   */
  async transition(
    guard: Guard,
    set: Partial<JobRow>,
    events: JobEventRow[],
    extra?: (em: EntityManager) => Promise<void>,
  ): Promise<boolean> {
    if (this.#committer && !extra) return (await this.#committer.submit({ kind: 'move', guard, set, events })) as boolean;
    return this.em().transactional(async (em) => {
      const where: FilterQuery<JobRow> = { id: guard.jobId, status: { $in: [...guard.from] } };
      if (guard.attemptId !== undefined) where.attemptId = guard.attemptId;
      const n = await em.nativeUpdate(JobEntity, where, set);
      if (n === 0) return false;
      if (events.length) await em.insertMany(JobEventEntity, events);
      if (extra) await extra(em);
      return true;
    });
  }

  /** A finish: the guarded transition plus test cases and (if any) the video, in one transaction. */
  async finish(guard: Guard, set: Partial<JobRow>, event: JobEventRow, testCases: TestCaseRow[], video: VideoResultRow | null): Promise<boolean> {
    if (this.#committer) return (await this.#committer.submit({ kind: 'move', guard, set, events: [event], finish: { testCases, video } })) as boolean;
    return this.transition(guard, set, [event], async (em) => {
      // Delete only what exists: on MySQL a delete that matches nothing still locks the gap, and
      // concurrent finishes then deadlock on each other's inserts (the count is a plain read).
      if (await em.count(TestCaseEntity, { jobId: guard.jobId })) await em.nativeDelete(TestCaseEntity, { jobId: guard.jobId });
      if (testCases.length) await em.insertMany(TestCaseEntity, testCases);
      if (video) {
        if (await em.count(VideoResultEntity, { jobId: video.jobId })) await em.nativeDelete(VideoResultEntity, { jobId: video.jobId });
        await em.insert(VideoResultEntity, video);
      }
    });
  }

  /**
   * Stores a log chunk of the job's current attempt. Returns 'stored', 'duplicate' (this attempt's
   * chunk `seq` is already stored: the agent resent it) or 'stale' (not the current attempt, or the
   * job is no longer running: nothing written).
   */
  async appendLog(chunk: LogChunkRow): Promise<LogResult> {
    if (this.#committer) return (await this.#committer.submit({ kind: 'log', chunk })) as LogResult;
    return this.em().transactional(async (em) => {
      const dup = await em.count(LogChunkEntity, { attemptId: chunk.attemptId, seq: chunk.seq });
      if (dup > 0) return 'duplicate';
      const n = await em.nativeUpdate(
        JobEntity,
        { id: chunk.jobId, attemptId: chunk.attemptId, status: { $in: ['assigned', 'running'] } },
        { lastEventId: chunk.eventId, updatedAtMs: chunk.atMs },
      );
      if (n === 0) return 'stale';
      await em.insert(LogChunkEntity, chunk);
      return 'stored';
    });
  }

  async getJob(id: string): Promise<JobRow | null> {
    return this.em().findOne(JobEntity, { id });
  }

  async getTestCases(jobId: string): Promise<TestCaseRow[]> {
    return this.em().find(TestCaseEntity, { jobId }, { orderBy: { position: 'asc' } });
  }

  async getVideo(jobId: string): Promise<VideoResultRow | null> {
    return this.em().findOne(VideoResultEntity, { jobId });
  }

  /** Newest first; `cursor` is the last job id of the previous page (ids sort by creation time). */
  async listJobs(filter: JobFilter, limit: number, cursor?: string): Promise<JobRow[]> {
    const where: FilterQuery<JobRow> = {};
    if (filter.orgId !== undefined) where.orgId = filter.orgId;
    if (filter.status !== undefined) where.status = filter.status;
    if (filter.appVersionId !== undefined) where.appVersionId = filter.appVersionId;
    if (cursor !== undefined) where.id = { $lt: cursor };
    return this.em().find(JobEntity, where, { orderBy: { id: 'desc' }, limit });
  }

  /** Every job that has not reached a final state. */
  async unfinishedJobs(): Promise<JobRow[]> {
    return this.em().find(JobEntity, { status: { $in: ['queued', 'assigned', 'running'] } }, { orderBy: { id: 'asc' } });
  }

  /** The job's events with an id above `afterEventId`, in event-id order. */
  async eventsAfter(jobId: string, afterEventId: number): Promise<StoredEvent[]> {
    const em = this.em();
    const [events, logs] = await Promise.all([
      em.find(JobEventEntity, { jobId, eventId: { $gt: afterEventId } }, { orderBy: { eventId: 'asc' } }),
      em.find(LogChunkEntity, { jobId, eventId: { $gt: afterEventId } }, { orderBy: { eventId: 'asc' } }),
    ]);
    const out: StoredEvent[] = [];
    let i = 0;
    let j = 0;
    while (i < events.length || j < logs.length) {
      if (j >= logs.length || (i < events.length && events[i]!.eventId < logs[j]!.eventId)) out.push({ kind: 'event', row: events[i++]! });
      else out.push({ kind: 'log', row: logs[j++]! });
    }
    return out;
  }

  /** Counts jobs by status (for health and metrics). */
  async countByStatus(): Promise<Record<string, number>> {
    const rows = (await this.em().getConnection().execute('select status, count(*) as n from jobs group by status')) as {
      status: string;
      n: number | string;
    }[];
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}
