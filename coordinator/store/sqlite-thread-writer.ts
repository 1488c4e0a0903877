/**
 * The SQLite batch writer on a worker thread (`sqlite-thread.ts`), with a connection of its own.
 * libsql is synchronous: on the event loop, every commit's fsync would stop the coordinator
 * (HTTP, Socket.IO, the dispatcher) for its whole duration. Here the event loop only posts the
 * batch and waits for the answer, which the thread sends after COMMIT returned.
 *
 * The coordinator's MikroORM connection stays for reads and for the few writes outside group
 * commit (runs, builds, transitions with an extra write); both connections wait for the file's
 * write lock (`busy_timeout`) instead of failing. An in-memory database cannot be shared between
 * connections: it keeps the in-thread writer (see job-store.ts).
 */
import { Worker } from 'node:worker_threads';
import type { BatchWriter } from './group-commit.js';
import type { ErrorData, SqliteThreadData } from './sqlite-thread.js';
import type { WriteOp, WriteResult } from './write-ops.js';

type Reply = { ready: true } | { ready: false; error: ErrorData } | { id: number; results: WriteResult[] } | { id: number; error: ErrorData };

/** An error from the thread, with the name, message and code it had there. */
function rebuild(e: ErrorData): Error {
  const err = new Error(e.message) as Error & { code?: string };
  err.name = e.name;
  if (e.code !== undefined) err.code = e.code;
  if (e.stack) err.stack = e.stack;
  return err;
}

export class SqliteThreadWriter implements BatchWriter<WriteOp, WriteResult> {
  readonly #pending = new Map<number, { resolve(r: WriteResult[]): void; reject(err: unknown): void }>();
  #seq = 0;
  /** Set once the thread is gone: every write fails with it. */
  #gone: Error | null = null;
  #exited: Promise<void>;

  private constructor(private readonly worker: Worker) {
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (msg: Reply) => {
      if (!('id' in msg)) return;
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (this.#pending.size === 0) worker.unref();
      if ('results' in msg) p.resolve(msg.results);
      else p.reject(rebuild(msg.error));
    });
    const fail = (why: string) => {
      // Named like MikroORM's connection errors: the store is unavailable, nothing was acknowledged.
      const err = Object.assign(new Error(`the SQLite writer thread ${why}`), { name: 'ConnectionException' });
      this.#gone ??= err;
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
    worker.on('error', (err) => fail(`failed: ${err.message}`));
    worker.on('exit', (code) => fail(`exited (code ${code})`));
  }

  /** Starts the thread and opens its connection. Errors: the connection could not be opened. */
  static async start(data: SqliteThreadData): Promise<SqliteThreadWriter> {
    const workerData = { kind: 'qgjob-sqlite-writer', data };
    // From the compiled tree the thread is a .js file; run from the sources under tsx (the tests),
    // it is the .ts next to this one and the thread registers tsx itself first.
    const worker = import.meta.url.endsWith('.ts')
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => { t.register(); return import(${JSON.stringify(new URL('./sqlite-thread.ts', import.meta.url).href)}); });`,
          { eval: true, workerData },
        )
      : new Worker(new URL('./sqlite-thread.js', import.meta.url), { workerData });
    const ready = await new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the SQLite writer thread exited (code ${code}) before it was ready`)));
    });
    if ('ready' in ready && !ready.ready) {
      await worker.terminate();
      throw rebuild(ready.error);
    }
    worker.removeAllListeners('message');
    worker.removeAllListeners('error');
    worker.removeAllListeners('exit');
    worker.unref();
    return new SqliteThreadWriter(worker);
  }

  write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    if (this.#gone) return Promise.reject(this.#gone);
    const id = ++this.#seq;
    return new Promise<WriteResult[]>((resolve, reject) => {
      if (this.#pending.size === 0) this.worker.ref(); // a write in flight keeps the process alive
      this.#pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ops });
    });
  }

  /** Closes the thread's connection and ends the thread (after the writes in flight). */
  async close(): Promise<void> {
    if (this.#gone) return;
    this.worker.ref();
    this.worker.postMessage({ close: true });
    await this.#exited;
  }
}
