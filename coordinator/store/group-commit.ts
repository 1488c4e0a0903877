/**
 * Group commit: writes that arrive while a transaction is being committed wait, and the next
 * transaction writes all of them at once. One commit (one fsync) then pays for many writes, and
 * nobody is told "done" before the COMMIT that holds their write has returned. There is no timer:
 * a batch is whatever queued up while the previous one was committing (plus whatever arrived in
 * the same turn of the event loop), so a lone write goes out at once. A writer that can commit
 * several transactions at once (`maxInFlight`, MySQL: a connection each) gets the next batch while
 * the previous one commits; batches in flight never share a key.
 *
 * A batch that fails as a whole is retried one write per transaction, so a bad write (a unique
 * violation, a bug) fails only its own caller; when the store itself is unreachable every waiter
 * of the batch gets that error and nothing of the batch was stored.
 */
import { isStoreUnavailable } from './database-url.js';

/** Writes a batch in ONE transaction. */
export interface BatchWriter<Op, R> {
  /**
   * Writes `ops` in order in one transaction and resolves, after COMMIT returned, with one result
   * per op. Throws (having rolled back, so nothing of the batch is stored) when any op fails.
   */
  write(ops: readonly Op[]): Promise<R[]>;
}

export interface GroupCommitOptions {
  /** Most writes in one transaction. Default 1000. */
  maxBatchOps?: number;
  /** Most payload bytes (as `bytes(op)` counts them) in one transaction; a single larger op still goes alone. Default 4 MiB. */
  maxBatchBytes?: number;
  /**
   * Most transactions committing at once (the writer must take that many concurrent `write`s, e.g.
   * one connection each). Default 1. With 2, a write that arrives while a batch commits goes out at
   * once instead of waiting for that COMMIT; batches in flight never share a key.
   */
  maxInFlight?: number;
}

/** What the committer has done so far (for tests, benchmarks and metrics). */
export interface GroupCommitStats {
  /** Transactions that committed a batch (the one-by-one retries not counted). */
  batches: number;
  /** Writes acknowledged, i.e. resolved after their commit. */
  committed: number;
  /** Writes that ended in an error for their caller. */
  failed: number;
  /** Batches that failed as a whole and were retried one write per transaction. */
  retriedOneByOne: number;
  /** The largest batch so far. */
  largestBatch: number;
  /** Batches by size: key `1`, `2-3`, `4-7`, … (powers of two). */
  sizes: Record<string, number>;
}

/** The store was closed: the write was not taken. Counts as "store unavailable". */
export class StoreClosedError extends Error {
  override readonly name = 'StoreClosedError';
  constructor() {
    super('the store is closed');
  }
}

interface Waiter<Op, R> {
  op: Op;
  key: string;
  bytes: number;
  resolve(r: R): void;
  reject(err: unknown): void;
}

export class GroupCommitter<Op, R> {
  readonly #queue: Waiter<Op, R>[] = [];
  readonly #maxOps: number;
  readonly #maxBytes: number;
  readonly #maxInFlight: number;
  /** Keys of the ops in batches being committed: their later ops wait (per-key order, no two writes of one job at once). */
  readonly #busyKeys = new Set<string>();
  #inFlight = 0;
  #pumpAsked = false;
  /** Resolved when nothing is queued or committing (for close). */
  #idle: Array<() => void> = [];
  #closed = false;
  readonly #stats: GroupCommitStats = { batches: 0, committed: 0, failed: 0, retriedOneByOne: 0, largestBatch: 0, sizes: {} };

  /**
   * @param writer writes one batch in one transaction
   * @param key ops with the same key (e.g. the job id) never share a batch: the later one waits for
   *   the next, so ops of one job apply in the order they were submitted and never depend on each other
   * @param bytes the payload size of an op, for `maxBatchBytes`
   */
  constructor(
    private readonly writer: BatchWriter<Op, R>,
    private readonly key: (op: Op) => string,
    private readonly bytes: (op: Op) => number,
    opts: GroupCommitOptions = {},
  ) {
    this.#maxOps = Math.max(1, opts.maxBatchOps ?? 1000);
    this.#maxBytes = opts.maxBatchBytes ?? 4 * 1024 * 1024;
    this.#maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
  }

  /**
   * Queues `op` for the next batch; resolves with its own result once the batch is committed.
   * @example const ok = await committer.submit({ kind: 'move', guard, set, events });
   */
  submit(op: Op): Promise<R> {
    if (this.#closed) return Promise.reject(new StoreClosedError());
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ op, key: this.key(op), bytes: this.bytes(op), resolve, reject });
      this.#askPump();
    });
  }

  /** A copy of the counters. */
  stats(): GroupCommitStats {
    return { ...this.#stats, sizes: { ...this.#stats.sizes } };
  }

  /** Takes no more writes; resolves when every queued write is committed (or failed). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#queue.length === 0 && this.#inFlight === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /**
   * Starts batches on the next turn of the event loop: the rest of this turn queues its writes too
   * (no timer: setImmediate runs right after pending I/O callbacks), and after a COMMIT its callers
   * (and any I/O that came in meanwhile) queue their next writes before the next batch is taken.
   */
  #askPump(): void {
    if (this.#pumpAsked) return;
    this.#pumpAsked = true;
    setImmediate(() => {
      this.#pumpAsked = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length) {
      const batch = this.#take();
      if (!batch.length) break; // every queued op waits for a key in flight
      this.#inFlight++;
      for (const w of batch) this.#busyKeys.add(w.key);
      void this.#commit(batch)
        .catch((err: unknown) => {
          // Only a bug gets here (write errors are handed to their waiters): fail what is queued, loudly.
          for (const w of batch) w.reject(err);
          for (const w of this.#queue.splice(0)) w.reject(err);
        })
        .finally(() => {
          this.#inFlight--;
          for (const w of batch) this.#busyKeys.delete(w.key);
          if (this.#queue.length) this.#askPump();
          else if (this.#inFlight === 0) for (const done of this.#idle.splice(0)) done();
        });
    }
    if (this.#queue.length === 0 && this.#inFlight === 0) for (const done of this.#idle.splice(0)) done();
  }

  /** The next batch: queued ops in order, skipping (for a later batch) ops whose key is already in it or in a batch in flight. */
  #take(): Waiter<Op, R>[] {
    const batch: Waiter<Op, R>[] = [];
    const keys = new Set<string>();
    let bytes = 0;
    let kept = 0;
    for (let i = 0; i < this.#queue.length; i++) {
      const w = this.#queue[i]!;
      const fits = batch.length < this.#maxOps && (batch.length === 0 || bytes + w.bytes <= this.#maxBytes);
      if (fits && !keys.has(w.key) && !this.#busyKeys.has(w.key)) {
        batch.push(w);
        bytes += w.bytes;
      } else {
        this.#queue[kept++] = w;
      }
      keys.add(w.key); // also for a skipped op: a later op of its key must not overtake it
      if (batch.length >= this.#maxOps) {
        for (let j = i + 1; j < this.#queue.length; j++) this.#queue[kept++] = this.#queue[j]!;
        break;
      }
    }
    this.#queue.length = kept;
    return batch;
  }

  async #commit(batch: Waiter<Op, R>[]): Promise<void> {
    let results: R[];
    try {
      results = await this.writer.write(batch.map((w) => w.op));
    } catch (err) {
      if (batch.length === 1 || isStoreUnavailable(err)) {
        this.#stats.failed += batch.length;
        for (const w of batch) w.reject(err);
        return;
      }
      // One op spoiled the batch: give each op its own transaction, so only that one fails.
      this.#stats.retriedOneByOne++;
      for (const w of batch) {
        try {
          const [r] = await this.writer.write([w.op]);
          this.#stats.committed++;
          w.resolve(r!);
        } catch (e) {
          this.#stats.failed++;
          w.reject(e);
        }
      }
      return;
    }
    this.#stats.batches++;
    this.#stats.committed += batch.length;
    if (batch.length > this.#stats.largestBatch) this.#stats.largestBatch = batch.length;
    const bucket = sizeBucket(batch.length);
    this.#stats.sizes[bucket] = (this.#stats.sizes[bucket] ?? 0) + 1;
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
  }
}

function sizeBucket(n: number): string {
  if (n === 1) return '1';
  const lo = 2 ** Math.floor(Math.log2(n));
  return `${lo}-${lo * 2 - 1}`;
}
