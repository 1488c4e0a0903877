/**
 * The coordinator's composition root: store, job service, scheduler-driven dispatcher, the
 * `/agents` and `/watch` Socket.IO namespaces and the Hono HTTP API, all on one port.
 */
import { createServer } from 'node:http';
import { join } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { Server } from 'socket.io';
import {
  AGENTS_NAMESPACE,
  type AgentToCoordinator,
  DASHBOARD_NAMESPACE,
  type CoordinatorToAgent,
  type CoordinatorToWatcher,
  QgError,
  WATCH_NAMESPACE,
  type WatcherToCoordinator,
} from '../shared/index.js';
import { attachAgentHub } from './agents/agent-hub.js';
import { TokenBook } from './auth/tokens.js';
import { DashboardHub } from './dashboard/index.js';
import { fanOutSink } from './jobs/fan-out-sink.js';
import { Dispatcher } from './agents/dispatcher.js';
import { Fleet } from './agents/fleet.js';
import { BlobStore, BuildRegistry } from './builds/index.js';
import { createApp } from './http/app.js';
import { agentAuth, watchAuth } from './auth/socket-auth.js';
import { JobService } from './jobs/job-service.js';
import { RunService } from './jobs/run-service.js';
import type { Coordinator, CoordinatorOptions } from './options.js';
import { BuildStore, JobStore, RunStore, parseDatabaseUrl, redact } from './store/index.js';
import { RunWatch } from './watch/run-watch.js';
import { WatchHub } from './watch/watch-hub.js';
import { VERSION } from '../shared/index.js';

export type { Coordinator, CoordinatorOptions } from './options.js';

function msFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) <= 0) {
    throw new QgError('validation_failed', `${name} must be a whole number of milliseconds above 0, got "${v}"`, { [name]: 'must be a positive integer (ms)' });
  }
  return Number(v);
}

function bytesFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) <= 0 || !Number.isSafeInteger(Number(v))) {
    throw new QgError('validation_failed', `${name} must be a whole number of bytes above 0, got "${v}"`, { [name]: 'must be a positive integer (bytes)' });
  }
  return Number(v);
}

/** Resolves options against the environment and the defaults documented in options.ts. */
export function resolveCoordinatorOptions(opts: CoordinatorOptions, env: NodeJS.ProcessEnv = process.env) {
  const dataDir = opts.dataDir ?? env.QGJOB_DATA_DIR ?? '.qgjob';
  return {
    host: opts.host ?? env.QGJOB_HOST ?? '127.0.0.1',
    port: opts.port ?? (env.QGJOB_PORT ? Number(env.QGJOB_PORT) : 8080),
    databaseUrl: opts.databaseUrl ?? env.DATABASE_URL ?? `sqlite:${join(dataDir, 'qgjob.sqlite')}`,
    dataDir,
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? msFromEnv(env, 'QGJOB_HEARTBEAT_MS') ?? 5000,
    leaseMs: opts.leaseMs ?? msFromEnv(env, 'QGJOB_LEASE_MS') ?? 15000,
    assignAckTimeoutMs: opts.assignAckTimeoutMs ?? msFromEnv(env, 'QGJOB_ASSIGN_ACK_TIMEOUT_MS') ?? 10000,
    retryBaseMs: opts.retryBaseMs ?? msFromEnv(env, 'QGJOB_RETRY_BASE_MS') ?? 1000,
    retryMaxMs: opts.retryMaxMs ?? msFromEnv(env, 'QGJOB_RETRY_MAX_MS') ?? 30000,
    restartGraceMs: opts.restartGraceMs ?? msFromEnv(env, 'QGJOB_RESTART_GRACE_MS'),
    maxBuildBytes: opts.maxBuildBytes ?? bytesFromEnv(env, 'QGJOB_MAX_BUILD_BYTES') ?? 2 * 1024 ** 3,
    videoDir: opts.videoDir ?? env.QGJOB_VIDEO_DIR ?? join(dataDir, 'videos'),
    publicUrl: opts.publicUrl ?? env.QGJOB_PUBLIC_URL,
    tokens: TokenBook.parse(opts.tokens ?? env.QGJOB_TOKENS, opts.tokens !== undefined ? 'tokens' : 'QGJOB_TOKENS').withAgentToken(
      opts.agentToken ?? env.QGJOB_AGENT_TOKEN,
      opts.agentToken !== undefined ? 'agentToken' : 'QGJOB_AGENT_TOKEN',
    ),
    log: opts.log ?? ((line: string) => process.stderr.write(`[coordinator] ${line}\n`)),
  };
}

/**
 * Starts a coordinator and resolves once it listens and every unfinished job is back in its queue.
 * @example const c = await startCoordinator({ port: 0 }); console.log(c.url); await c.close();
 */
export async function startCoordinator(options: CoordinatorOptions = {}): Promise<Coordinator> {
  const o = resolveCoordinatorOptions(options);
  const now = () => Date.now();
  // Until the coordinator's own token book is wired here, the dashboard reads QGJOB_TOKENS itself.
  const store = await JobStore.open(parseDatabaseUrl(o.databaseUrl));

  const httpServer = createServer();
  // Liveness of attempts is the lease's job; Socket.IO's own pings keep their defaults. Messages are
  // bounded by the schemas (a log chunk ≤ 256 KiB from our agent); 8 MiB leaves room and stops abuse.
  const io = new Server(httpServer, { serveClient: false, maxHttpBufferSize: 8 * 1024 * 1024 });
  io.of(WATCH_NAMESPACE).use(watchAuth(o.tokens));
  io.of(AGENTS_NAMESPACE).use(agentAuth(o.tokens, o.log));
  const watch = new WatchHub(io.of(WATCH_NAMESPACE) as import('socket.io').Namespace<WatcherToCoordinator, CoordinatorToWatcher>);
  const dashboard = new DashboardHub(io.of(DASHBOARD_NAMESPACE), { tokens: o.tokens, version: VERSION, now, log: o.log });
  const service = new JobService(store, fanOutSink(watch, dashboard), now, { baseMs: o.retryBaseMs, maxMs: o.retryMaxMs });
  const builds = new BuildRegistry(new BuildStore(() => store.entityManager()), await BlobStore.open(join(o.dataDir, 'builds')), {
    maxBuildBytes: o.maxBuildBytes,
    now,
    log: o.log,
  });
  const fleet = new Fleet();
  const dispatcher = new Dispatcher(
    service,
    fleet,
    { leaseMs: o.leaseMs, assignAckTimeoutMs: o.assignAckTimeoutMs, resolveBuild: (job) => builds.forDispatch(job) },
    now,
    o.log,
  );
  attachAgentHub(io.of(AGENTS_NAMESPACE) as import('socket.io').Namespace<AgentToCoordinator, CoordinatorToAgent>, {
    service,
    fleet,
    dispatcher,
    heartbeatIntervalMs: o.heartbeatIntervalMs,
    now,
    log: o.log,
  });
  watch.attach(service, store, o.log);
  const runs = new RunService(new RunStore(() => store.entityManager()), service, (spec) => builds.checkSubmit(spec), now);
  const runWatch = new RunWatch(io.of(WATCH_NAMESPACE) as import('socket.io').Namespace<WatcherToCoordinator, CoordinatorToWatcher>, runs, o.log);
  runWatch.attach();
  watch.runJobMoved = (job, eventId) => runWatch.jobMoved(job, eventId);
  dashboard.attach({
    service,
    fleet,
    agents: io.of(AGENTS_NAMESPACE),
    runs: async (q) => (await runs.list(q.org_id === null ? {} : { orgId: q.org_id }, q.limit)).runs,
  });

  const app = createApp({
    service,
    runs,
    fleet,
    store,
    builds,
    version: VERSION,
    log: o.log,
    tokens: o.tokens,
    videoDir: o.videoDir,
    maxVideoBytes: 2 * 1024 ** 3,
    ...(o.publicUrl ? { publicUrl: o.publicUrl } : {}),
    onCancelled: (jobId, attemptId, agentId) => {
      const socket = agentId ? fleet.agents.get(agentId)?.socket : null;
      if (attemptId && socket) socket.emit('cancel', { job_id: jobId, attempt_id: attemptId, reason: 'cancelled by request' });
    },
  });
  // Socket.IO answers /socket.io/ itself (its long-polling requests too: Hono must not answer them
  // as well, or the second answer throws); every other request reaches Hono.
  const hono = getRequestListener(app.fetch);
  const socketIoPrefix = `${io.path()}/`;
  httpServer.on('request', (req, res) => {
    if (!req.url?.startsWith(socketIoPrefix)) void hono(req, res);
  });

  const onSlots = await service.recover();
  dispatcher.adopt(onSlots, o.restartGraceMs ?? o.leaseMs);
  const sweepMs = Math.max(100, Math.floor(o.leaseMs / 5));
  const sweep = setInterval(() => {
    dispatcher.sweep().catch((err: unknown) => o.log(`lease sweep failed: ${(err as Error).message}; retrying next round`));
  }, sweepMs);

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(o.port, o.host, () => resolve());
  });
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  o.log(`listening on ${url} (database ${store.kind}: ${redact(o.databaseUrl)}; ${service.queues.size} queued, ${onSlots.length} on slots recovered)`);
  if (o.tokens.agentsNeedToken) o.log(`tokens: ${o.tokens.enabled ? 'the API and /watch need a token (QGJOB_TOKENS)' : 'the API is open'}; agents need ${o.tokens.hasAgentToken ? 'QGJOB_AGENT_TOKEN' : 'the admin token (no QGJOB_AGENT_TOKEN is set)'}`);

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    close: () =>
      (closing ??= (async () => {
        clearInterval(sweep);
        dashboard.close();
        dispatcher.close();
        service.close();
        await new Promise<void>((resolve) => io.close(() => resolve()));
        await store.close();
      })()),
  };
}
