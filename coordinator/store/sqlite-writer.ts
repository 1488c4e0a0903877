/**
 * The SQLite batch writer: a batch of job-store writes in one transaction on MikroORM's own
 * libsql connection (SQLite has one writer; sharing the connection keeps MikroORM's transactions
 * and ours in one line). libsql is synchronous, so BEGIN … COMMIT runs without yielding: nothing
 * else can interleave, and the cost that matters is the commit's fsync, paid once per batch.
 *
 * Inside the transaction: one query finds which log chunks are already stored, then one guarded
 * update per op (its changed-row count is that op's answer), then the rows of the ops that went
 * through as multi-row inserts. Statements are prepared once per connection and SQL text (multi-row
 * ones in power-of-two sizes, so there are few texts).
 */
import type { BatchWriter } from './group-commit.js';
import {
  EVENT_PROPS,
  LOG_PROPS,
  LOGGING_STATES,
  TEST_CASE_PROPS,
  VIDEO_PROPS,
  batchRows,
  guardedUpdate,
  insertRows,
  placeholders,
  powerOfTwoRuns,
  type Sql,
  type Table,
  type Tables,
  type WriteOp,
  type WriteResult,
} from './write-ops.js';

/** The part of libsql's (better-sqlite3-like) API used here. */
export interface LibsqlDatabase {
  exec(sql: string): void;
  prepare(sql: string): LibsqlStatement;
  readonly inTransaction: boolean;
}
interface LibsqlStatement {
  run(params: unknown[]): { changes: number };
  all(params: unknown[]): unknown[];
}

/** Knex's connection pool (one connection for SQLite). */
export interface ConnectionPool<C> {
  acquireConnection(): Promise<C>;
  releaseConnection(conn: C): Promise<unknown>;
}

export class SqliteWriter implements BatchWriter<WriteOp, WriteResult> {
  readonly #statements = new WeakMap<LibsqlDatabase, Map<string, LibsqlStatement>>();

  constructor(
    private readonly pool: ConnectionPool<LibsqlDatabase>,
    private readonly t: Tables,
  ) {}

  async write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    const db = await this.pool.acquireConnection();
    try {
      db.exec('BEGIN IMMEDIATE');
      try {
        const out = this.#batch(db, ops);
        db.exec('COMMIT');
        return out;
      } catch (err) {
        if (db.inTransaction) {
          try {
            db.exec('ROLLBACK');
          } catch {
            // the original error says what happened
          }
        }
        throw err;
      }
    } finally {
      await this.pool.releaseConnection(db);
    }
  }

  #batch(db: LibsqlDatabase, ops: readonly WriteOp[]): WriteResult[] {
    const { jobs, events, logs, testCases, videos } = this.t;
    const out = new Array<WriteResult>(ops.length).fill(false);
    // Log chunks already stored (resent by the agent): one query for the batch.
    const chunks = ops.flatMap((op) => (op.kind === 'log' ? [op.chunk] : []));
    const stored = new Set<string>();
    for (const run of powerOfTwoRuns(chunks)) {
      const where = run.map(() => `(${logs.col('attemptId')} = ? and ${logs.col('seq')} = ?)`).join(' or ');
      const rows = this.#stmt(db, `select ${logs.col('attemptId')} as a, ${logs.col('seq')} as s from ${logs.name} where ${where}`).all(run.flatMap((c) => [c.attemptId, c.seq]));
      for (const r of rows as { a: string; s: number }[]) stored.add(`${r.a}\n${r.s}`);
    }
    // New jobs, then one guarded update per transition or chunk.
    const newJobs = ops.flatMap((op) => (op.kind === 'insert' ? [op.job] : []));
    if (newJobs.length) {
      const props = jobs.fields(newJobs[0]!).props;
      const same = newJobs.every((j) => jobs.fields(j).columns === jobs.fields(newJobs[0]!).columns);
      if (same) this.#insert(db, jobs, newJobs, props);
      else for (const j of newJobs) this.#insert(db, jobs, [j], jobs.fields(j).props);
    }
    ops.forEach((op, i) => {
      if (op.kind === 'insert') out[i] = true;
      else if (op.kind === 'move') out[i] = op.guard.from.length > 0 && this.#run(db, guardedUpdate(jobs, op.guard, op.set, 'sqlite')) > 0;
      else {
        const c = op.chunk;
        if (stored.has(`${c.attemptId}\n${c.seq}`)) out[i] = 'duplicate';
        else {
          const u = guardedUpdate(jobs, { jobId: c.jobId, from: LOGGING_STATES, attemptId: c.attemptId }, { lastEventId: c.eventId, updatedAtMs: c.atMs }, 'sqlite');
          out[i] = this.#run(db, u) > 0 ? 'stored' : 'stale';
        }
      }
    });
    // The rows of the ops that went through.
    const rows = batchRows(ops, out);
    this.#insert(db, events, rows.events, EVENT_PROPS);
    this.#insert(db, logs, rows.chunks, LOG_PROPS);
    this.#deleteJobs(db, testCases, rows.finished);
    this.#insert(db, testCases, rows.testCases, TEST_CASE_PROPS);
    this.#deleteJobs(db, videos, rows.videos.map((v) => v.jobId));
    this.#insert(db, videos, rows.videos, VIDEO_PROPS);
    return out;
  }

  #insert<Row extends object>(db: LibsqlDatabase, t: Table<Row>, rows: readonly Row[], props: readonly (keyof Row & string)[]): void {
    for (const run of powerOfTwoRuns(rows)) this.#run(db, insertRows(t, run, props, 'sqlite'));
  }

  #deleteJobs<Row extends { jobId: string }>(db: LibsqlDatabase, t: Table<Row>, jobIds: string[]): void {
    for (const run of powerOfTwoRuns(jobIds)) this.#run(db, { text: `delete from ${t.name} where ${t.col('jobId' as keyof Row & string)} in (${placeholders(run.length)})`, values: run });
  }

  #run(db: LibsqlDatabase, sql: Sql): number {
    return this.#stmt(db, sql.text).run(sql.values).changes;
  }

  #stmt(db: LibsqlDatabase, text: string): LibsqlStatement {
    let cache = this.#statements.get(db);
    if (!cache) this.#statements.set(db, (cache = new Map()));
    let s = cache.get(text);
    if (!s) cache.set(text, (s = db.prepare(text)));
    return s;
  }
}
