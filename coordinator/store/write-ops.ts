/**
 * The job store's writes as data, so that many of them can go into one transaction (group
 * commit), and the table/column names they need, taken from the MikroORM metadata so the raw SQL
 * of the batch writers always matches the entities.
 */
import type { EntitySchema, MikroORM } from '@mikro-orm/core';
import type { JobState } from '../../shared/index.js';
// Types only: the SQLite writer thread loads this module and must not load MikroORM with it.
import type { JobEventRow, JobRow, LogChunkRow, TestCaseRow, VideoResultRow } from './entities.js';

/** The guard of a transition: the job must be in one of `from` and (if given) on this attempt. */
export interface Guard {
  jobId: string;
  from: readonly JobState[];
  attemptId?: string;
}

/** What a finish writes besides the move: the attempt's test cases (replacing any) and its video. */
export interface FinishRows {
  testCases: TestCaseRow[];
  video: VideoResultRow | null;
}

/** One write of the job store. Every op touches one job (`jobId`). */
export type WriteOp =
  /** A new job and its first event. Result `true`. */
  | { kind: 'insert'; job: JobRow; event: JobEventRow }
  /** A guarded transition: `true` if the job matched the guard (then `set` and `events` are written), else `false` and nothing. */
  | { kind: 'move'; guard: Guard; set: Partial<JobRow>; events: JobEventRow[]; finish?: FinishRows }
  /** A log chunk of the current attempt: 'stored', 'duplicate' or 'stale'. */
  | { kind: 'log'; chunk: LogChunkRow };

export type LogResult = 'stored' | 'duplicate' | 'stale';
export type WriteResult = boolean | LogResult;

/** The job an op writes to (ops of one job never share a batch). */
export function opJobId(op: WriteOp): string {
  return op.kind === 'insert' ? op.job.id : op.kind === 'move' ? op.guard.jobId : op.chunk.jobId;
}

/** Roughly the bytes an op sends, to keep a batch under the server's packet limit. */
export function opBytes(op: WriteOp): number {
  if (op.kind === 'log') return op.chunk.lines.length + 200;
  if (op.kind === 'insert') return op.job.testPath.length + op.event.data.length + 600;
  let n = 300;
  for (const e of op.events) n += e.data.length + 100;
  if (typeof op.set.errorMessage === 'string') n += op.set.errorMessage.length;
  if (typeof op.set.videoNote === 'string') n += op.set.videoNote.length;
  for (const t of op.finish?.testCases ?? []) n += t.title.length + t.fullTitle.length + (t.errorMessage?.length ?? 0) + 100;
  if (op.finish?.video) n += (op.finish.video.videoUrl?.length ?? 0) + 100;
  return n;
}

/** A table's name and its property → column map (quoted with backticks, which SQLite accepts too). */
export class Table<Row extends object> {
  private constructor(
    /** The quoted table name. */
    readonly name: string,
    private readonly columns: ReadonlyMap<string, string>,
  ) {}

  static of<Row extends object>(orm: MikroORM, schema: EntitySchema<Row>): Table<Row> {
    const meta = orm.getMetadata().get(schema.meta.className);
    const columns = new Map<string, string>();
    for (const p of meta.props) if (p.fieldNames?.length === 1) columns.set(p.name, quote(p.fieldNames[0]!));
    return new Table<Row>(quote(meta.tableName), columns);
  }

  /** The name and columns as plain data (for a writer on another thread). */
  spec(): TableSpec {
    return { name: this.name, columns: [...this.columns] };
  }

  static fromSpec<Row extends object>(spec: TableSpec): Table<Row> {
    return new Table<Row>(spec.name, new Map(spec.columns));
  }

  /** The quoted column of a property. */
  col(prop: keyof Row & string): string {
    const c = this.columns.get(prop);
    if (!c) throw new Error(`no column for ${this.name}.${prop}`);
    return c;
  }

  /** The defined (not undefined) properties of `row` in a stable order, with their columns. */
  fields(row: Partial<Row>): { props: (keyof Row & string)[]; columns: string } {
    const props = (Object.keys(row) as (keyof Row & string)[]).filter((k) => row[k] !== undefined && this.columns.has(k));
    return { props, columns: props.map((p) => this.columns.get(p)!).join(', ') };
  }
}

/** A table as plain data: its quoted name and [property, quoted column] pairs. */
export interface TableSpec {
  name: string;
  columns: [string, string][];
}

/** Every table the writers touch. */
export interface Tables {
  jobs: Table<JobRow>;
  events: Table<JobEventRow>;
  logs: Table<LogChunkRow>;
  testCases: Table<TestCaseRow>;
  videos: Table<VideoResultRow>;
}


/** The tables as plain data (structured-cloneable), and back. */
export function tablesSpec(t: Tables): Record<keyof Tables, TableSpec> {
  return { jobs: t.jobs.spec(), events: t.events.spec(), logs: t.logs.spec(), testCases: t.testCases.spec(), videos: t.videos.spec() };
}

export function tablesFromSpec(s: Record<keyof Tables, TableSpec>): Tables {
  return { jobs: Table.fromSpec(s.jobs), events: Table.fromSpec(s.events), logs: Table.fromSpec(s.logs), testCases: Table.fromSpec(s.testCases), videos: Table.fromSpec(s.videos) };
}

/** Column order of the rows the writers insert (the autoincrement `id` is the database's). */
export const EVENT_PROPS = ['jobId', 'eventId', 'type', 'attempt', 'data', 'atMs'] as const satisfies readonly (keyof JobEventRow)[];
export const LOG_PROPS = ['jobId', 'attemptId', 'attempt', 'seq', 'eventId', 'lines', 'atMs'] as const satisfies readonly (keyof LogChunkRow)[];
export const TEST_CASE_PROPS = ['jobId', 'attempt', 'position', 'title', 'fullTitle', 'status', 'durationMs', 'errorMessage', 'retry'] as const satisfies readonly (keyof TestCaseRow)[];
export const VIDEO_PROPS = ['jobId', 'platform', 'videoUrl', 'timestamp'] as const satisfies readonly (keyof VideoResultRow)[];

/** The states in which a log chunk of the current attempt is taken. */
export const LOGGING_STATES: readonly JobState[] = ['assigned', 'running'];

/**
 * A value as the driver binds it, the way MikroORM stores it: booleans as 1/0 (libsql cannot bind
 * a boolean at all), dates as epoch ms on SQLite and as a UTC `YYYY-MM-DD HH:MM:SS.mmm` on MySQL.
 * Anything else unexpected is refused here rather than by the driver.
 */
export function sqlValue(v: unknown, dialect: 'sqlite' | 'mysql'): string | number | null {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`cannot store the number ${v}`);
      return v;
    case 'boolean':
      return v ? 1 : 0;
  }
  if (v instanceof Date) return dialect === 'sqlite' ? v.getTime() : v.toISOString().replace('T', ' ').replace('Z', '');
  throw new TypeError(`cannot store a value of type ${typeof v}`);
}

/** The rows a batch inserts once its guarded updates are done: those of the ops that went through. */
export interface BatchRows {
  events: JobEventRow[];
  chunks: LogChunkRow[];
  /** Jobs whose finish went through: their old test cases are replaced. */
  finished: string[];
  testCases: TestCaseRow[];
  videos: VideoResultRow[];
}

/** Collects the rows to insert, given each op's result (`true` / 'stored' = it went through). */
export function batchRows(ops: readonly WriteOp[], results: readonly WriteResult[]): BatchRows {
  const rows: BatchRows = { events: [], chunks: [], finished: [], testCases: [], videos: [] };
  ops.forEach((op, i) => {
    if (op.kind === 'insert') rows.events.push(op.event);
    else if (op.kind === 'log') {
      if (results[i] === 'stored') rows.chunks.push(op.chunk);
    } else if (results[i] === true) {
      for (const e of op.events) rows.events.push(e);
      if (op.finish) {
        rows.finished.push(op.guard.jobId);
        for (const tc of op.finish.testCases) rows.testCases.push(tc);
        if (op.finish.video) rows.videos.push(op.finish.video);
      }
    }
  });
  return rows;
}

/**
 * Splits `items` into runs whose lengths are powers of two up to `max` (50 → 32, 16, 2), so that
 * multi-row statements come in a few sizes that a statement cache can keep prepared.
 */
export function powerOfTwoRuns<T>(items: readonly T[], max = 64): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; ) {
    const n = Math.min(max, 2 ** Math.floor(Math.log2(items.length - i)));
    out.push(items.slice(i, i + n));
    i += n;
  }
  return out;
}

/** A statement with `?` placeholders and its values. */
export interface Sql {
  text: string;
  values: (string | number | null)[];
}

/** `insert into t (cols) values (?, …)` for one row: the listed props, or every defined one. */
export function insertRow<Row extends object>(t: Table<Row>, row: Row, props: readonly (keyof Row & string)[] | undefined, dialect: 'sqlite' | 'mysql'): Sql {
  const f = props ? { props, columns: props.map((p) => t.col(p)).join(', ') } : t.fields(row);
  return {
    text: `insert into ${t.name} (${f.columns}) values (${placeholders(f.props.length)})`,
    values: f.props.map((p) => sqlValue(row[p], dialect)),
  };
}

/** One multi-row `insert into t (cols) values (…), (…)` of the listed props. */
export function insertRows<Row extends object>(t: Table<Row>, rows: readonly Row[], props: readonly (keyof Row & string)[], dialect: 'sqlite' | 'mysql'): Sql {
  const one = `(${placeholders(props.length)})`;
  const values: (string | number | null)[] = [];
  for (const row of rows) for (const p of props) values.push(sqlValue(row[p], dialect));
  return { text: `insert into ${t.name} (${props.map((p) => t.col(p)).join(', ')}) values ${new Array<string>(rows.length).fill(one).join(', ')}`, values };
}

/**
 * `update jobs set … where id = ? and status in (…) [and attempt_id = ?]`: the guarded write of a
 * transition. An empty `set` still matches (and so still answers whether the guard holds).
 * `from` must not be empty.
 */
export function guardedUpdate(jobs: Table<JobRow>, guard: Guard, set: Partial<JobRow>, dialect: 'sqlite' | 'mysql'): Sql {
  const f = jobs.fields(set);
  const values: (string | number | null)[] = f.props.map((p) => sqlValue(set[p], dialect));
  const assignments = f.props.length ? f.props.map((p) => `${jobs.col(p)} = ?`).join(', ') : `${jobs.col('id')} = ${jobs.col('id')}`;
  let where = `${jobs.col('id')} = ? and ${jobs.col('status')} in (${placeholders(guard.from.length)})`;
  values.push(guard.jobId, ...guard.from);
  if (guard.attemptId !== undefined) {
    where += ` and ${jobs.col('attemptId')} = ?`;
    values.push(guard.attemptId);
  }
  return { text: `update ${jobs.name} set ${assignments} where ${where}`, values };
}

export function placeholders(n: number): string {
  return n === 1 ? '?' : new Array<string>(n).fill('?').join(', ');
}

function quote(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}
