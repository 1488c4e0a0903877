/**
 * Child process: the BullMQ side of the reference, a `Worker` whose processor does nothing (the
 * no-op job), so BullMQ runs in its own process like the qgjob coordinator and agents do.
 * Argument: JSON `{ host, port, queue, concurrency, autorun }`. IPC: `run` (start a worker made
 * with autorun false), `wait` (until `completed` jobs completed; replies with the time), `stats`
 * (add → processor-start latencies of jobs carrying `t`, in ms) and `close`.
 */
import { Worker } from 'bullmq';
import { nowNs, serveIpc } from './common.js';
import { loadIORedis } from './redis.js';

const cfg = JSON.parse(process.argv[2]!) as { host: string; port: number; queue: string; concurrency: number; autorun: boolean };
const IORedis = await loadIORedis();
const connection = new IORedis({ host: cfg.host, port: cfg.port, maxRetriesPerRequest: null });

const latencies: number[] = [];
let completed = 0;
let lastNs = 0n;
const waiters: Array<{ n: number; resolve: (v: object) => void }> = [];
const worker = new Worker(
  cfg.queue,
  async (job) => {
    const t = (job.data as { t?: string }).t;
    if (t) latencies.push(Number(nowNs() - BigInt(t)) / 1e6);
    return null;
  },
  { connection: connection as never, concurrency: cfg.concurrency, autorun: cfg.autorun },
);
worker.on('completed', () => {
  completed++;
  lastNs = nowNs();
  for (let i = waiters.length - 1; i >= 0; i--) if (completed >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve({ completed, at_ns: String(lastNs) });
});
worker.on('error', (err) => process.stderr.write(`[bullmq-worker] ${err.message}\n`));
await worker.waitUntilReady();

const ipc = serveIpc({
  run: () => {
    void worker.run();
    return {};
  },
  wait: (m) => (completed >= Number(m.completed) ? { completed, at_ns: String(lastNs) } : new Promise((resolve) => waiters.push({ n: Number(m.completed), resolve }))),
  stats: () => ({ completed, latencies }),
  close: async () => {
    await worker.close();
    await connection.quit();
    setTimeout(() => process.exit(0), 50);
    return {};
  },
});
ipc.send('ready');
