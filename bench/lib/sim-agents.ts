/**
 * Child process for the scale benchmark: many lightweight simulated agents, each a raw
 * socket.io-client connection speaking the `/agents` protocol of shared/protocol.ts (register,
 * heartbeats at the interval the coordinator asks, `assign` acknowledged, `started` at once), but
 * without `AgentProcess` (whose per-agent work folders, build caches and device health checks are
 * not what a thousand-agent coordinator benchmark is about). Jobs stay running until the
 * benchmark asks for some to finish. Heartbeats are spread evenly over the interval.
 * Argument: JSON `{ url, agents, slotsPerAgent }`. IPC: `ready` (all registered); `wait` (until
 * `started` attempts were acknowledged); `finish` (`count` running jobs, one every `everyMs`;
 * replies with result-acknowledged → next-assignment times on that slot); `stats`; `close`.
 */
import { io, type Socket } from 'socket.io-client';
import { type AgentToCoordinator, type CoordinatorToAgent, type RunningAttempt, VERSION } from '../../shared/index.js';
import { nowNs, serveIpc } from './common.js';

const cfg = JSON.parse(process.argv[2]!) as { url: string; agents: number; slotsPerAgent: number };

interface Sim {
  id: string;
  socket: Socket<CoordinatorToAgent, AgentToCoordinator>;
  running: Map<string, RunningAttempt>;
  timer: NodeJS.Timeout | null;
}

let started = 0;
let assigned = 0;
let heartbeats = 0;
const heartbeatRtt: number[] = [];
/** Slot key → when its last result was acknowledged (a new assignment to it is timed from there). */
const freedAt = new Map<string, bigint>();
const refill: number[] = [];
const waiters: Array<{ n: number; resolve: (v: object) => void }> = [];
const settle = () => {
  for (let i = waiters.length - 1; i >= 0; i--) if (started >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve({ started });
};

const sims: Sim[] = [];
async function connect(i: number): Promise<void> {
  const id = `sim-${i}`;
  const socket: Socket<CoordinatorToAgent, AgentToCoordinator> = io(new URL('/agents', cfg.url).href, { transports: ['websocket'], reconnection: false });
  const sim: Sim = { id, socket, running: new Map(), timer: null };
  sims.push(sim);
  socket.on('assign', (a, ack) => {
    assigned++;
    const key = `${a.slot_id}`;
    const freed = freedAt.get(`${id}/${key}`);
    if (freed !== undefined) {
      refill.push(Number(nowNs() - freed) / 1e6);
      freedAt.delete(`${id}/${key}`);
    }
    sim.running.set(a.attempt_id, { job_id: a.job_id, attempt_id: a.attempt_id, slot_id: a.slot_id });
    ack({ ok: true });
    void socket
      .timeout(60_000)
      .emitWithAck('started', { job_id: a.job_id, attempt_id: a.attempt_id, install: null })
      .then((r) => {
        if (r.ok) started++;
        else process.stderr.write(`[sim] started refused: ${r.error.message}\n`);
        settle();
      });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const reply = await socket.timeout(120_000).emitWithAck('register', {
    agent_id: id,
    name: id,
    version: VERSION,
    slots: Array.from({ length: cfg.slotsPerAgent }, (_, s) => ({
      slot_id: `s${s}`,
      target: 'emulator' as const,
      platform: 'android' as const,
      device_name: 'sim',
      endpoint: 'noop:',
      installed_app_version_id: null,
      health: 'ok' as const,
      health_reason: null,
      cloud_account: null,
      cloud_cap: null,
    })),
    running: [],
  });
  if (!reply.ok) throw new Error(`register ${id}: ${reply.error.message}`);
  const every = reply.heartbeat_interval_ms;
  const beat = () => {
    const t = nowNs();
    void socket
      .timeout(60_000)
      .emitWithAck('heartbeat', { running: [...sim.running.values()] })
      .then(
        () => {
          heartbeats++;
          heartbeatRtt.push(Number(nowNs() - t) / 1e6);
        },
        () => undefined,
      );
  };
  // Spread the fleet's heartbeats evenly over the interval, as independently started agents would be.
  setTimeout(() => {
    beat();
    sim.timer = setInterval(beat, every);
  }, Math.floor((i / cfg.agents) * every));
}

for (let i = 0; i < cfg.agents; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, cfg.agents - i) }, (_, k) => connect(i + k)));
}

async function finishOne(sim: Sim): Promise<void> {
  const [attemptId, r] = sim.running.entries().next().value as [string, RunningAttempt];
  sim.running.delete(attemptId);
  const reply = await sim.socket.timeout(60_000).emitWithAck('finished', {
    job_id: r.job_id,
    attempt_id: attemptId,
    outcome: 'passed',
    error_message: null,
    test_cases: [],
    duration_ms: 0,
    log_chunks: 0,
    video: null,
    video_note: null,
    error_reason: null,
  });
  if (!reply.ok) throw new Error(`finished refused: ${reply.error.message}`);
  freedAt.set(`${sim.id}/${r.slot_id}`, nowNs());
}

const ipc = serveIpc({
  wait: (m) =>
    new Promise((resolve) => {
      waiters.push({ n: Number(m.started), resolve });
      settle();
    }),
  finish: async (m) => {
    refill.length = 0;
    const count = Number(m.count);
    const everyMs = Number(m.everyMs);
    const before = started;
    const pending: Array<Promise<void>> = [];
    const t0 = performance.now();
    for (let k = 0; k < count; k++) {
      const wait = t0 + k * everyMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const busy = sims.filter((s) => s.running.size > 0);
      pending.push(finishOne(busy[(k * 7919) % busy.length]!));
    }
    await Promise.all(pending);
    // Each freed slot gets a queued job again.
    await new Promise<void>((resolve) => {
      waiters.push({ n: before + count, resolve: () => resolve() });
      settle();
    });
    return { refill_ms: [...refill] };
  },
  stats: () => ({ agents: sims.length, assigned, started, heartbeats, heartbeat_rtt_ms: heartbeatRtt.splice(0) }),
  close: () => {
    for (const s of sims) {
      if (s.timer) clearInterval(s.timer);
      s.socket.close();
    }
    setTimeout(() => process.exit(0), 50);
    return {};
  },
});
ipc.send('ready', { agents: sims.length });
