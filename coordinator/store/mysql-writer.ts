/**
 * The MySQL batch writer: a batch of job-store writes in one transaction, in two round trips on
 * a connection of its own (opened with multi-statements, which MikroORM's pool does not have):
 *
 *   1. `start transaction; select id, status, attempt_id from jobs where id in (…) for update;
 *      select … from log_chunks where (attempt, seq) …` — the rows of the jobs the batch moves,
 *      locked until COMMIT, and the chunks already stored. Each guard is decided on the locked
 *      row (what the guarded `UPDATE … WHERE status IN … AND attempt_id = …` would have matched).
 *   2. `insert into jobs … values (…), (…); update jobs join (…) set … (one statement per set of
 *      changed columns, each job to its own values); insert into job_events …; insert into
 *      log_chunks …; (test cases, videos); commit` — only for the ops whose guard held.
 *
 * The server pays per statement, so a batch is a handful of statements however many ops it has.
 * Values are escaped by mysql2 (`?` placeholders); nothing is pasted into the SQL text.
 *
 * Batches may commit two at a time (group commit's `maxInFlight`), each on a connection of its own,
 * so a write that arrives while a batch commits (an assignment behind a burst of submits) does not
 * wait for that COMMIT. Batches in flight never touch the same job. Their connections run at READ
 * COMMITTED: under REPEATABLE READ a delete that matches nothing (a job's first test cases) locks the
 * gap, and two such batches inserting into that gap deadlock; every guard is decided on rows locked
 * `for update` by primary key, which READ COMMITTED locks the same way. With a statement-based binary
 * log (which refuses writes at READ COMMITTED) the writer stays at the server's level and commits one
 * batch at a time.
 */
import type { JobState } from '../../shared/index.js';
import type { JobRow } from './entities.js';
import type { BatchWriter } from './group-commit.js';
import {
  EVENT_PROPS,
  LOG_PROPS,
  LOGGING_STATES,
  TEST_CASE_PROPS,
  VIDEO_PROPS,
  batchRows,
  insertRows,
  placeholders,
  sqlValue,
  type Sql,
  type Tables,
  type WriteOp,
  type WriteResult,
} from './write-ops.js';

/** The part of the mysql2 module (callback API) used here: the one MikroORM's knex loaded. */
export interface Mysql2Driver {
  createConnection(opts: Record<string, unknown>): Mysql2Connection;
}
interface Mysql2Connection {
  connect(cb: (err: Error | null) => void): void;
  query(sql: string, values: unknown[], cb: (err: (Error & { fatal?: boolean }) | null, results: unknown) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  end(cb?: (err?: Error) => void): void;
  destroy(): void;
}

export interface MysqlTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  dbName: string;
}

export class MysqlWriter implements BatchWriter<WriteOp, WriteResult> {
  /** Connections not writing a batch now. */
  readonly #idle: Mysql2Connection[] = [];
  /** Every open connection. */
  readonly #open = new Set<Mysql2Connection>();
  /** Null until the first connection tells (one batch at a time until then); false: one at a time (statement-based binary log). */
  #concurrent: boolean | null = null;
  /** The batch before, when batches go one at a time. */
  #serial: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly driver: Mysql2Driver,
    private readonly target: MysqlTarget,
    private readonly t: Tables,
  ) {}

  async write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    if (this.#concurrent !== true) {
      const run = this.#serial.then(() => this.#write(ops));
      this.#serial = run.catch(() => undefined);
      return run;
    }
    return this.#write(ops);
  }

  async #write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    const conn = await this.#connection();
    try {
      const out = await this.#batch(conn, ops);
      this.#idle.push(conn);
      return out;
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal) this.#drop(conn);
      else
        await this.#query(conn, 'rollback', []).then(
          () => void this.#idle.push(conn),
          () => this.#drop(conn),
        );
      throw err;
    }
  }

  /** Closes the connections (queued writes are the committer's to finish first). */
  async close(): Promise<void> {
    const conns = [...this.#open];
    this.#open.clear();
    this.#idle.length = 0;
    await Promise.all(conns.map((conn) => new Promise<void>((resolve) => conn.end(() => resolve()))));
  }

  async #batch(conn: Mysql2Connection, ops: readonly WriteOp[]): Promise<WriteResult[]> {
    const { jobs, logs, events, testCases, videos } = this.t;
    const out: WriteResult[] = new Array<WriteResult>(ops.length).fill(false);
    // Round trip 1: lock the rows of the jobs the batch moves, and find chunks already stored.
    const guarded = ops.flatMap((op) => (op.kind === 'move' ? (op.guard.from.length ? [op.guard.jobId] : []) : op.kind === 'log' ? [op.chunk.jobId] : []));
    const chunks = ops.flatMap((op) => (op.kind === 'log' ? [op.chunk] : []));
    const head: Sql[] = [{ text: 'start transaction', values: [] }];
    if (guarded.length) {
      head.push({
        text: `select ${jobs.col('id')} as id, ${jobs.col('status')} as status, ${jobs.col('attemptId')} as attemptId from ${jobs.name} where ${jobs.col('id')} in (${placeholders(guarded.length)}) for update`,
        values: guarded,
      });
    }
    if (chunks.length) {
      head.push({
        text: `select ${logs.col('attemptId')} as a, ${logs.col('seq')} as s from ${logs.name} where ${chunks.map(() => `(${logs.col('attemptId')} = ? and ${logs.col('seq')} = ?)`).join(' or ')}`,
        values: chunks.flatMap((c) => [c.attemptId, c.seq]),
      });
    }
    const h = joinSql(head);
    const r1 = (await this.#query(conn, h.text, h.values)) as unknown[];
    const current = new Map<string, { status: string; attemptId: string | null }>();
    const stored = new Set<string>();
    if (guarded.length) for (const r of r1[1] as { id: string; status: string; attemptId: string | null }[]) current.set(r.id, r);
    if (chunks.length) for (const r of r1[head.length - 1] as { a: string; s: number }[]) stored.add(`${r.a}\n${r.s}`);
    // The guards, decided on the locked rows (nobody else can change them before our COMMIT).
    const updates: { jobId: string; set: Partial<JobRow> }[] = [];
    ops.forEach((op, i) => {
      if (op.kind === 'insert') out[i] = true;
      else if (op.kind === 'move') {
        const row = current.get(op.guard.jobId);
        out[i] = !!row && op.guard.from.includes(row.status as JobState) && (op.guard.attemptId === undefined || row.attemptId === op.guard.attemptId);
        if (out[i]) updates.push({ jobId: op.guard.jobId, set: op.set });
      } else {
        const c = op.chunk;
        const row = current.get(c.jobId);
        if (stored.has(`${c.attemptId}\n${c.seq}`)) out[i] = 'duplicate';
        else if (row && row.attemptId === c.attemptId && LOGGING_STATES.includes(row.status as JobState)) {
          out[i] = 'stored';
          updates.push({ jobId: c.jobId, set: { lastEventId: c.eventId, updatedAtMs: c.atMs } });
        } else out[i] = 'stale';
      }
    });
    // Round trip 2: new jobs, one update per shape of change, the rows of the ops that went through, COMMIT.
    const tail: Sql[] = [];
    const newJobs = ops.flatMap((op) => (op.kind === 'insert' ? [op.job] : []));
    for (const group of groupBy(newJobs, (j) => jobs.fields(j).columns).values()) tail.push(insertRows(jobs, group, jobs.fields(group[0]!).props, 'mysql'));
    // The updates touch exactly the rows locked above, each once (one op per job in a batch).
    if (new Set(updates.map((u) => u.jobId)).size !== updates.length) throw new Error('group commit: two writes of one job in one batch');
    for (const group of groupBy(updates, (u) => jobs.fields(u.set).columns).values()) {
      if (jobs.fields(group[0]!.set).props.length) tail.push(updateRows(jobs, group));
    }
    const rows = batchRows(ops, out);
    if (rows.events.length) tail.push(insertRows(events, rows.events, EVENT_PROPS, 'mysql'));
    if (rows.chunks.length) tail.push(insertRows(logs, rows.chunks, LOG_PROPS, 'mysql'));
    if (rows.finished.length) tail.push({ text: `delete from ${testCases.name} where ${testCases.col('jobId')} in (${placeholders(rows.finished.length)})`, values: rows.finished });
    if (rows.testCases.length) tail.push(insertRows(testCases, rows.testCases, TEST_CASE_PROPS, 'mysql'));
    if (rows.videos.length) {
      tail.push({ text: `delete from ${videos.name} where ${videos.col('jobId')} in (${placeholders(rows.videos.length)})`, values: rows.videos.map((v) => v.jobId) });
      tail.push(insertRows(videos, rows.videos, VIDEO_PROPS, 'mysql'));
    }
    tail.push({ text: 'commit', values: [] });
    const t2 = joinSql(tail);
    await this.#query(conn, t2.text, t2.values);
    return out;
  }

  async #connection(): Promise<Mysql2Connection> {
    const idle = this.#idle.pop();
    if (idle) return idle;
    const { host, port, user, password, dbName } = this.target;
    const conn = this.driver.createConnection({
      host,
      port,
      user,
      password,
      database: dbName,
      multipleStatements: true,
      supportBigNumbers: true,
      charset: 'utf8mb4',
    });
    // A connection that dies between batches (server restart, idle timeout) is replaced by the next batch.
    conn.on('error', () => this.#drop(conn));
    await new Promise<void>((resolve, reject) =>
      conn.connect((err) => {
        if (err) {
          conn.destroy();
          reject(err);
        } else resolve();
      }),
    );
    try {
      if (this.#concurrent === null) {
        const [row] = (await this.#query(conn, 'select @@log_bin as logBin, @@binlog_format as format', [])) as { logBin: number | string; format: string }[];
        this.#concurrent = !(Number(row?.logBin) === 1 && String(row?.format).toUpperCase() === 'STATEMENT');
      }
      if (this.#concurrent) await this.#query(conn, 'set session transaction isolation level read committed', []);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    this.#open.add(conn);
    return conn;
  }

  #drop(conn: Mysql2Connection): void {
    this.#open.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    conn.destroy();
  }

  #query(conn: Mysql2Connection, sql: string, values: unknown[]): Promise<unknown> {
    return new Promise((resolve, reject) => conn.query(sql, values, (err, results) => (err ? reject(err) : resolve(results))));
  }
}

/**
 * One `update jobs join (select ? as k, ? as c0 … union all select …) v on id = k set …` for jobs
 * that all change the same columns, each to its own values.
 */
function updateRows(jobs: Tables['jobs'], group: { jobId: string; set: Partial<JobRow> }[]): Sql {
  const props = jobs.fields(group[0]!.set).props;
  const values: (string | number | null)[] = [];
  const first = `select ? as k, ${props.map((_, i) => `? as c${i}`).join(', ')}`;
  const next = `select ${placeholders(props.length + 1)}`;
  for (const u of group) {
    values.push(u.jobId);
    for (const p of props) values.push(sqlValue(u.set[p], 'mysql'));
  }
  const derived = [first, ...new Array<string>(group.length - 1).fill(next)].join(' union all ');
  return {
    text: `update ${jobs.name} j join (${derived}) v on j.${jobs.col('id')} = v.k set ${props.map((p, i) => `j.${jobs.col(p)} = v.c${i}`).join(', ')}`,
    values,
  };
}

function joinSql(parts: Sql[]): Sql {
  if (parts.length === 1) return parts[0]!;
  return { text: parts.map((p) => p.text).join(';\n'), values: parts.flatMap((p) => p.values) };
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const g = m.get(k);
    if (g) g.push(it);
    else m.set(k, [it]);
  }
  return m;
}
