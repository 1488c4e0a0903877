/**
 * Child process: `watchers` Socket.IO clients on the coordinator's `/watch` namespace, each
 * subscribed to every job in `jobIds` (as `qgjob watch` does). It counts the log lines each watcher
 * gets and samples agent → watcher latency from the `t=` (monotonic ns) the noop slot writes into
 * every line, and splits it in two stages (wall-clock ms, so millisecond resolution): agent → the
 * coordinator taking the chunk (the line's `at_ms`, when the agent's streamer got it, to the event's
 * `at`, taken before the chunk is stored), and from there → the watcher (store, fan-out, socket).
 * Argument: JSON `{ url, watchers, jobIds, sampleEvery }`. IPC: sends `ready` once every
 * subscription was acknowledged; answers `wait` (until every watcher got `lines` lines) and `stats` (with the process's CPU so far).
 */
import { io, type Socket } from 'socket.io-client';
import type { CoordinatorToWatcher, JobEvent, WatcherToCoordinator } from '../../shared/index.js';
import { nowNs, serveIpc } from './common.js';

const cfg = JSON.parse(process.argv[2]!) as { url: string; watchers: number; jobIds: string[]; sampleEvery?: number };
const every = cfg.sampleEvery ?? 10;

const lines = new Array<number>(cfg.watchers).fill(0);
let lastNs = 0n;
let firstLineNs: bigint | null = null;
const latencies: number[] = [];
const toCoordinator: number[] = [];
const toWatcher: number[] = [];
let seen = 0;
const waiters: Array<{ n: number; resolve: (v: object) => void }> = [];
const stampOf = (text: string): bigint | null => {
  const i = text.indexOf(' t=');
  if (i < 0) return null;
  const j = text.indexOf(' ', i + 3);
  return BigInt(text.slice(i + 3, j < 0 ? undefined : j));
};
const settle = () => {
  const min = Math.min(...lines);
  for (let i = waiters.length - 1; i >= 0; i--) if (min >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve({ at_ns: String(lastNs), lines });
};

const sockets: Array<Socket<CoordinatorToWatcher, WatcherToCoordinator>> = [];
for (let w = 0; w < cfg.watchers; w++) {
  const s: Socket<CoordinatorToWatcher, WatcherToCoordinator> = io(new URL('/watch', cfg.url).href, { transports: ['websocket'] });
  sockets.push(s);
  s.on('event', (e: JobEvent) => {
    if (e.type !== 'log') return;
    const now = nowNs();
    const nowMs = Date.now();
    const atMs = Date.parse(e.at);
    const first = e.lines[0] ? stampOf(e.lines[0].text) : null;
    if (first !== null && (firstLineNs === null || first < firstLineNs)) firstLineNs = first;
    for (const l of e.lines) {
      if (seen++ % every !== 0) continue;
      const t = stampOf(l.text);
      if (t !== null) latencies.push(Number(now - t) / 1e6);
      toCoordinator.push(atMs - l.at_ms);
      toWatcher.push(nowMs - atMs);
    }
    lines[w]! += e.lines.length;
    lastNs = now;
    settle();
  });
}
await Promise.all(
  sockets.map(async (s) => {
    for (const jobId of cfg.jobIds) {
      const r = await s.timeout(30_000).emitWithAck('subscribe', { job_id: jobId });
      if (!r.ok) throw new Error(`subscribe ${jobId}: ${r.error.message}`);
    }
  }),
);

const ipc = serveIpc({
  wait: (m) => new Promise((resolve) => {
    waiters.push({ n: Number(m.lines), resolve });
    settle();
  }),
  stats: () => ({ cpu_us: process.cpuUsage().user + process.cpuUsage().system, lines, latencies, to_coordinator: toCoordinator, to_watcher: toWatcher, first_line_ns: String(firstLineNs ?? 0n), last_ns: String(lastNs) }),
  close: () => {
    for (const s of sockets) s.close();
    setTimeout(() => process.exit(0), 50);
    return {};
  },
});
ipc.send('ready');
