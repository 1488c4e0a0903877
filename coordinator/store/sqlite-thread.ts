/**
 * The worker thread of `SqliteThreadWriter`: its own libsql connection to the database file, and
 * the same batch writer (`SqliteWriter`) the coordinator would otherwise run on its event loop. A
 * batch's answer is posted only after its COMMIT returned (with `synchronous = FULL`, after the
 * fsync), so the caller's acknowledgement still means "on disk".
 *
 * Messages in: `{ id, ops }` (a batch), `{ close: true }`. Out: `{ ready: true }` or
 * `{ ready: false, error }` once at start, then `{ id, results }` or `{ id, error }` per batch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'libsql';
import { SqliteWriter, type LibsqlDatabase } from './sqlite-writer.js';
import { tablesFromSpec, type TableSpec, type Tables, type WriteOp } from './write-ops.js';

/** What the thread is started with. */
export interface SqliteThreadData {
  file: string;
  synchronous: 'full' | 'normal';
  /** How long a write waits for the file's write lock held by the other connection (ms). */
  busyTimeoutMs: number;
  tables: Record<keyof Tables, TableSpec>;
}

/** An error as plain data, keeping what `isStoreUnavailable` and the logs look at. */
export interface ErrorData {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

export const errorData = (err: unknown): ErrorData => {
  const e = err as { name?: unknown; message?: unknown; code?: unknown; stack?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(typeof e?.stack === 'string' ? { stack: e.stack } : {}),
  };
};

if (parentPort && workerData && (workerData as { kind?: string }).kind === 'qgjob-sqlite-writer') {
  const port = parentPort;
  const data = (workerData as { data: SqliteThreadData }).data;
  let db: Database.Database | null = null;
  try {
    db = new Database(data.file);
    db.exec(`pragma synchronous = ${data.synchronous}`);
    db.exec(`pragma busy_timeout = ${Math.max(0, Math.floor(data.busyTimeoutMs))}`);
    port.postMessage({ ready: true });
  } catch (err) {
    port.postMessage({ ready: false, error: errorData(err) });
  }
  if (db) {
    const conn = db as unknown as LibsqlDatabase;
    const writer = new SqliteWriter({ acquireConnection: async () => conn, releaseConnection: async () => undefined }, tablesFromSpec(data.tables));
    port.on('message', (msg: { id: number; ops: WriteOp[] } | { close: true }) => {
      if ('close' in msg) {
        db?.close();
        db = null;
        port.close();
        return;
      }
      writer.write(msg.ops).then(
        (results) => port.postMessage({ id: msg.id, results }),
        (err: unknown) => port.postMessage({ id: msg.id, error: errorData(err) }),
      );
    });
  }
}
