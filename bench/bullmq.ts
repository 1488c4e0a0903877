/**
 * Benchmark 3, the BullMQ reference (`npm run bench:bullmq`): what a Node team would pick
 * otherwise, measured the same way and in the same run: BullMQ 6.7 on Redis (the local one on
 * 127.0.0.1:6379, else one started for the run), the worker in its own process.
 * - latency: one job every 5 ms (open loop), add() called → processor start, p50/p99 (as benchmark 1);
 * - flow: N no-op jobs added with 50 add() calls in flight while the worker runs, first add → last
 *   completed, at worker concurrency 1 and 50 (as benchmark 2);
 * - drain: a pre-filled queue of N jobs (addBulk) drained by one worker, at concurrency 1 and 50
 *   (the figures quoted in issue 7).
 * Completed jobs are kept (BullMQ's default), as qgjob keeps its results. Each queue has a unique
 * name and is obliterated afterwards.
 */
import { Queue } from 'bullmq';
import { type BenchOptions, type BenchResult, isMain, main, msSince, nowNs, round, size, startTsChild, summary } from './lib/common.js';
import { ensureRedis, loadIORedis } from './lib/redis.js';

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const latencyJobs = size(opts, 'dispatch_jobs', 2000, 20);
  const latencyWarmup = size(opts, 'dispatch_warmup', 300, 3);
  const flowJobs = size(opts, 'throughput_jobs', 20_000, 20);
  const IORedis = await loadIORedis();
  const redis = await ensureRedis();
  const rows: BenchResult['rows'] = [];
  let n = 0;

  /** One measurement on a fresh queue with its own worker process. */
  const measure = async <T>(concurrency: number, autorun: boolean, fn: (q: Queue, worker: ReturnType<typeof startTsChild>) => Promise<T>): Promise<T> => {
    const name = `qgjob-bench-${process.pid}-${Date.now()}-${n++}`;
    const connection = new IORedis({ host: redis.host, port: redis.port, maxRetriesPerRequest: null });
    const queue = new Queue(name, { connection: connection as never });
    const worker = startTsChild('bullmq-worker.ts', { host: redis.host, port: redis.port, queue: name, concurrency, autorun });
    try {
      await worker.next('ready', 60_000);
      return await fn(queue, worker);
    } finally {
      await worker.request('close', {}, 30_000).catch(() => undefined);
      await worker.stop(5_000);
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await connection.quit().catch(() => undefined);
    }
  };

  try {
    // Latency at light load.
    const lat = await measure(50, true, async (queue, worker) => {
      const addAll = async (count: number) => {
        const t0 = performance.now();
        const pending: Array<Promise<unknown>> = [];
        for (let i = 0; i < count; i++) {
          const wait = t0 + i * 5 - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          pending.push(queue.add('noop', { t: String(nowNs()) }));
        }
        await Promise.all(pending);
      };
      await addAll(latencyWarmup);
      await worker.request('wait', { completed: latencyWarmup });
      await addAll(latencyJobs);
      await worker.request('wait', { completed: latencyWarmup + latencyJobs });
      const { latencies } = await worker.request<{ latencies: number[] }>('stats');
      return summary(latencies.slice(latencyWarmup));
    });
    rows.push({ system: 'BullMQ 6.7', measure: 'add → processor start (one job / 5 ms)', jobs: latencyJobs, concurrency: 50, p50_ms: round(lat.p50), p99_ms: round(lat.p99), jobs_per_s: null });

    // Flow: adds and the worker at the same time.
    for (const concurrency of [1, 50]) {
      const rate = await measure(concurrency, true, async (queue, worker) => {
        const t0 = nowNs();
        let next = 0;
        const adder = async () => {
          while (next < flowJobs) {
            next++;
            await queue.add('noop', {});
          }
        };
        await Promise.all(Array.from({ length: 50 }, adder));
        const done = await worker.request<{ at_ns: string }>('wait', { completed: flowJobs });
        return (flowJobs / msSince(t0, BigInt(done.at_ns))) * 1000;
      });
      rows.push({ system: 'BullMQ 6.7', measure: 'flow: add (50 in flight) → worker → completed', jobs: flowJobs, concurrency, p50_ms: null, p99_ms: null, jobs_per_s: round(rate) });
    }

    // Drain of a pre-filled queue.
    for (const concurrency of [1, 50]) {
      const rate = await measure(concurrency, false, async (queue, worker) => {
        for (let i = 0; i < flowJobs; i += 1000) {
          await queue.addBulk(Array.from({ length: Math.min(1000, flowJobs - i) }, () => ({ name: 'noop', data: {} })));
        }
        const t0 = nowNs();
        await worker.request('run');
        const done = await worker.request<{ at_ns: string }>('wait', { completed: flowJobs });
        return (flowJobs / msSince(t0, BigInt(done.at_ns))) * 1000;
      });
      rows.push({ system: 'BullMQ 6.7', measure: 'drain a pre-filled queue', jobs: flowJobs, concurrency, p50_ms: null, p99_ms: null, jobs_per_s: round(rate) });
    }
  } finally {
    await redis.stop();
  }
  return {
    bench: 'bullmq',
    rows,
    notes: [`Redis at ${redis.host}:${redis.port}${redis.started ? ' (started for this run)' : ''}; worker in its own process; no-op processor; completed jobs kept`],
  };
}

if (isMain(import.meta.url)) await main(run);
