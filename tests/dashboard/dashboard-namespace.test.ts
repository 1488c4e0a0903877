/**
 * The `/dashboard` namespace at the wire: a real coordinator (in this process, SQLite, with org
 * tokens), a wire agent speaking the `/agents` protocol message by message, and dashboard pages as
 * Socket.IO clients. What each viewer sees: snapshot contents, live updates (queues, slots, log
 * tails, results), filtering per org, and refusal without a token. The browser test drives the
 * page itself.
 */
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Fleet } from '../../coordinator/agents/fleet.js';
import { TokenBook } from '../../coordinator/auth/tokens.js';
import { DashboardHub } from '../../coordinator/dashboard/index.js';
import { startCoordinator, type Coordinator } from '../../coordinator/index.js';
import { JobService } from '../../coordinator/jobs/job-service.js';
import { JobStore, parseDatabaseUrl } from '../../coordinator/store/index.js';
import { type Ack, type AgentToCoordinator, type Assignment, type CoordinatorToAgent, type JobState, type RunView, DASHBOARD_NAMESPACE } from '../../shared/index.js';
import { tempDir } from '../helpers/processes.js';
import { jobViewFixture } from '../helpers/fixtures.js';
import { type Page, openPage, refusedPage } from './helpers.js';

const TOKENS = { acme: 'acme-token-0001', globex: 'globex-token-0001', admin: 'admin-token-0001' };
const TOKENS_SPEC = `acme=${TOKENS.acme},globex=${TOKENS.globex},*=${TOKENS.admin}`;

type AgentSock = Socket<CoordinatorToAgent, AgentToCoordinator>;
let coordinator: Coordinator;
const cleanups: Array<() => unknown> = [];

/** Starts the coordinator with tokens (read from QGJOB_TOKENS, which is restored right after). */
async function start(): Promise<void> {
  const before = process.env.QGJOB_TOKENS;
  process.env.QGJOB_TOKENS = TOKENS_SPEC;
  try {
    coordinator = await startCoordinator({ port: 0, databaseUrl: `sqlite:${join(tempDir('dash'), 'db.sqlite')}`, log: () => {}, heartbeatIntervalMs: 200, leaseMs: 5000 });
  } finally {
    if (before === undefined) delete process.env.QGJOB_TOKENS;
    else process.env.QGJOB_TOKENS = before;
  }
  cleanups.push(() => coordinator.close());
}

const admin = { authorization: `Bearer ${TOKENS.admin}` };

async function submit(org: string, version: string, testPath = 'tests/onboarding.spec.js'): Promise<string> {
  const res = await fetch(`${coordinator.url}/api/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...admin },
    body: JSON.stringify({ org_id: org, app_version_id: version, test_path: testPath, target: 'emulator' }),
  });
  assert.is(res.status, 201, await res.clone().text());
  return ((await res.json()) as { job_id: string }).job_id;
}

/** A wire agent with one slot `s1` that takes every assignment; the test says when it starts, logs and finishes. */
async function wireAgent(agentId: string) {
  const s: AgentSock = io(`${coordinator.url}/agents`, { transports: ['websocket'], reconnection: false, auth: { token: TOKENS.admin } });
  cleanups.push(() => s.close());
  const assignments: Assignment[] = [];
  const running = new Map<string, Assignment>();
  const waiters = new Set<() => void>();
  s.on('assign', (a, ack) => {
    assignments.push(a);
    running.set(a.attempt_id, a);
    ack({ ok: true });
    waiters.forEach((w) => w());
  });
  const beat = setInterval(() => {
    if (s.connected) s.emit('heartbeat', { running: [...running.values()].map((a) => ({ job_id: a.job_id, attempt_id: a.attempt_id, slot_id: a.slot_id })) }, () => {});
  }, 200);
  cleanups.push(() => clearInterval(beat));
  const reply = await s.timeout(5000).emitWithAck('register', {
    agent_id: agentId,
    name: `${agentId} (lab)`,
    version: 'test',
    slots: [{ slot_id: 's1', target: 'emulator', platform: 'android', device_name: 'Pixel wire', endpoint: 'http://127.0.0.1:1', installed_app_version_id: null }],
    running: [],
  });
  assert.ok(reply.ok, JSON.stringify(reply));
  const send = async <E extends keyof AgentToCoordinator>(event: E, payload: Parameters<AgentToCoordinator[E]>[0]): Promise<void> => {
    const r = await (s.timeout(5000).emitWithAck as (e: string, p: unknown) => Promise<Ack>)(event, payload);
    assert.ok(r.ok, `${event}: ${JSON.stringify(r)}`);
    if (event === 'finished') running.delete((payload as { attempt_id: string }).attempt_id);
  };
  return {
    /** The assignment of `jobId`, once it arrives. */
    assignmentOf: (jobId: string) =>
      new Promise<Assignment>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no assignment for ${jobId}; got ${assignments.map((a) => a.job_id).join(', ')}`)), 10_000);
        const check = () => {
          const a = assignments.find((x) => x.job_id === jobId);
          if (a) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(a);
          }
        };
        waiters.add(check);
        check();
      }),
    start: (a: Assignment) => send('started', { job_id: a.job_id, attempt_id: a.attempt_id, install: { app_version_id: a.app_version_id, duration_ms: 1200 } }),
    log: (a: Assignment, seq: number, texts: string[]) =>
      send('log', { job_id: a.job_id, attempt_id: a.attempt_id, seq, lines: texts.map((text) => ({ at_ms: Date.now(), stream: 'stdout' as const, text })) }),
    pass: (a: Assignment, chunks: number) =>
      send('finished', {
        job_id: a.job_id,
        attempt_id: a.attempt_id,
        outcome: 'passed',
        error_message: null,
        test_cases: [{ title: 'logs in', full_title: 'logs in', status: 'passed', duration_ms: 800, error_message: null, retry: 0 }],
        duration_ms: 950,
        log_chunks: chunks,
        video: { url: `${coordinator.url}/videos/${a.job_id}.mp4`, platform: 'android' },
        video_note: null,
      }),
  };
}

async function page(token?: string): Promise<Page> {
  const p = await openPage(coordinator.url, token);
  cleanups.push(() => p.close());
  return p;
}

test.after.each(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

test('a page without a valid token is refused with code unauthorized; one with a token gets a snapshot', async () => {
  await start();
  const none = await refusedPage(coordinator.url);
  assert.equal(none.data, { code: 'unauthorized', message: 'this coordinator requires an API token' });
  const wrong = await refusedPage(coordinator.url, 'not-a-token-at-all');
  assert.is((wrong.data as { code: string }).code, 'unauthorized');
  assert.match(wrong.message, /not valid/);

  const acme = await page(TOKENS.acme);
  assert.equal(acme.view!.viewer, { org: 'acme' });
  assert.is(acme.view!.auth, true);
  assert.equal(acme.view!.queues, []);
  assert.equal(acme.view!.running, []);
  assert.is(acme.view!.runs, null, 'no runs provider on this coordinator: null');

  // Browsers start with HTTP long-polling: the coordinator answers it (Socket.IO alone, not the API too).
  const polling = await openPage(coordinator.url, TOKENS.globex, 'polling');
  cleanups.push(() => polling.close());
  assert.equal(polling.view!.viewer, { org: 'globex' });
  assert.is((await fetch(`${coordinator.url}/healthz`)).status, 200);
});

test('snapshot and live updates: queues, slots, log tails and results, each org seeing only its own', async () => {
  await start();
  const agent = await wireAgent('lab-1');
  const [acme, globex, all] = await Promise.all([page(TOKENS.acme), page(TOKENS.globex), page(TOKENS.admin)]);
  assert.equal(all.view!.agents.map((a) => [a.agent_id, a.name, a.connected, a.slots.map((s) => [s.slot_id, s.state, s.device_name])]), [
    ['lab-1', 'lab-1 (lab)', true, [['s1', 'idle', 'Pixel wire']]],
  ]);
  assert.equal(acme.view!.agents.length, 1, 'agents are visible to every org');

  // acme's job takes the only slot; globex's waits in its queue.
  const acmeJob = await submit('acme', 'acme-v1', 'tests/slow-logs.spec.js');
  const a = await agent.assignmentOf(acmeJob);
  const globexJob = await submit('globex', 'globex-v7');
  await agent.start(a);
  await agent.log(a, 0, ['progress 1/5', 'progress 2/5']);
  await agent.log(a, 1, ['progress 3/5']);

  const seenByAcme = await acme.until('acme running with its tail', (v, t) => v.running.some((j) => j.job_id === acmeJob && j.status === 'running') && (t.get(acmeJob)?.length ?? 0) === 3);
  assert.equal(acme.tails.get(acmeJob)!.map((l) => l.text), ['progress 1/5', 'progress 2/5', 'progress 3/5']);
  assert.equal(acme.tails.get(acmeJob)!.map((l) => l.n), [1, 2, 3]);
  const slot = seenByAcme.agents[0]!.slots[0]!;
  await acme.until('the slot busy with acme job', (v) => v.agents[0]!.slots[0]!.job_id === acmeJob && v.agents[0]!.slots[0]!.installed_app_version_id === 'acme-v1');
  assert.is(slot.redacted, false);
  assert.not.ok(acme.view!.queues.some((q) => q.app_version_id === 'globex-v7'), 'acme does not see globex queue');
  assert.equal(
    acme.view!.queues.map((q) => [q.app_version_id, q.depth, q.running]),
    [['acme-v1', 0, 1]],
  );

  const g = await globex.until('globex queue with its job waiting', (v) => v.queues.some((q) => q.app_version_id === 'globex-v7' && q.depth === 1));
  const q = g.queues.find((x) => x.app_version_id === 'globex-v7')!;
  assert.equal(q.org_ids, ['globex']);
  assert.equal(q.by_class, { 'emulator/android': 1 });
  assert.is(q.top_priority, 5);
  const globexView = (await (await fetch(`${coordinator.url}/api/v1/jobs/${globexJob}`, { headers: admin })).json()) as { created_at: string };
  assert.is(q.oldest_queued_at, globexView.created_at, 'the oldest wait counts from the submit');
  await globex.until('the slot redacted for globex', (v) => v.agents[0]!.slots[0]!.state === 'busy' && v.agents[0]!.slots[0]!.redacted);
  assert.is(globex.view!.agents[0]!.slots[0]!.job_id, null);
  assert.is(globex.view!.agents[0]!.slots[0]!.installed_app_version_id, null);
  assert.equal(globex.view!.running, []);

  await all.until('admin sees both', (v) => v.running.some((j) => j.job_id === acmeJob) && v.queues.some((x) => x.app_version_id === 'globex-v7'));

  // A page that connects now gets the tail in its snapshot.
  const late = await page(TOKENS.acme);
  assert.equal(late.view!.tails.find((t) => t.job_id === acmeJob)?.lines.map((l) => l.text), ['progress 1/5', 'progress 2/5', 'progress 3/5']);

  // acme's job passes: a result with its video; globex's job gets the slot.
  await agent.log(a, 2, ['progress done']);
  await agent.pass(a, 3);
  const done = await acme.until('acme result', (v) => v.recent.some((r) => r.job_id === acmeJob));
  const result = done.recent.find((r) => r.job_id === acmeJob)!;
  assert.is(result.status, 'passed');
  assert.is(result.video_url, `${coordinator.url}/videos/${acmeJob}.mp4`);
  assert.is(result.duration_ms, 950);
  assert.equal(result.tests, { passed: 1 });
  await acme.until('acme job no longer running', (v) => !v.running.some((j) => j.job_id === acmeJob));
  await all.until('admin result', (v) => v.recent.some((r) => r.job_id === acmeJob));

  const b = await agent.assignmentOf(globexJob);
  await agent.start(b);
  await agent.log(b, 0, ['globex secret line']);
  await globex.until('globex running with its tail', (v, t) => v.running.some((j) => j.job_id === globexJob) && (t.get(globexJob)?.length ?? 0) === 1);
  await globex.until('globex sees its job and build on the slot', (v) => v.agents[0]!.slots[0]!.job_id === globexJob && v.agents[0]!.slots[0]!.installed_app_version_id === 'globex-v7');
  await acme.until('the slot redacted for acme now', (v) => v.agents[0]!.slots[0]!.redacted && v.agents[0]!.slots[0]!.state === 'busy');
  assert.is(acme.view!.agents[0]!.slots[0]!.installed_app_version_id, null);

  // Nothing of the other org ever reached either page.
  for (const raw of acme.raw) {
    assert.not.match(raw, globexJob);
    assert.not.match(raw, 'globex');
  }
  for (const raw of globex.raw) {
    assert.not.match(raw, acmeJob);
    assert.not.match(raw, 'acme-v1');
    assert.not.match(raw, 'progress');
  }
  await all.until('admin sees every tail', (_v, t) => t.get(globexJob)?.[0]?.text === 'globex secret line');
});

test('runs come from their provider, filtered per org, without job lists, refreshed after job events', async () => {
  // A hub on its own server, so the runs provider can be given (the coordinator wires the real one).
  const httpServer = createServer();
  const ioServer = new Server(httpServer, { serveClient: false });
  const store = await JobStore.open(parseDatabaseUrl(`sqlite:${join(tempDir('dash-runs'), 'db.sqlite')}`));
  const hub = new DashboardHub(ioServer.of(DASHBOARD_NAMESPACE), { tokens: TokenBook.parse(TOKENS_SPEC), version: 'test', pushIntervalMs: 50, runsIntervalMs: 50 });
  const service = new JobService(store, hub);
  const queries: Array<string | null> = [];
  const states: Record<string, JobState[]> = { 'run-acme': ['passed', 'running', 'queued'], 'run-globex': ['failed'] };
  const runView = (id: string, org: string): RunView => {
    const jobs = states[id]!.map((status, i) => jobViewFixture({ job_id: `${id}-job-${i}`, org_id: org, status }));
    const counts = Object.fromEntries(['queued', 'assigned', 'running', 'passed', 'failed', 'error', 'cancelled', 'timed_out'].map((s) => [s, 0])) as RunView['counts'];
    for (const j of jobs) counts[j.status]++;
    return {
      run_id: id,
      org_id: org,
      app_version_id: `${org}-v1`,
      name: `CI ${id}`,
      idempotency_key: 'secret-key',
      rerun_of: null,
      status: 'running',
      total: jobs.length,
      done: counts.passed + counts.failed,
      counts,
      created_at: new Date().toISOString(),
      finished_at: null,
      duration_ms: null,
      jobs,
    };
  };
  hub.attach({
    service,
    fleet: new Fleet(),
    // Like a real store query: filtered by org when asked. The hub filters again, to be safe.
    runs: async ({ org_id }) => {
      queries.push(org_id);
      return [runView('run-acme', 'acme'), runView('run-globex', 'globex')].filter((r) => org_id === null || r.org_id === org_id);
    },
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(httpServer.address() as { port: number }).port}`;
  cleanups.push(async () => {
    hub.close();
    service.close();
    await new Promise<void>((resolve) => ioServer.close(() => resolve()));
    await store.close();
  });

  const acme = await openPage(url, TOKENS.acme);
  const all = await openPage(url, TOKENS.admin);
  cleanups.push(() => acme.close(), () => all.close());
  assert.equal(acme.view!.runs!.map((r) => [r.run_id, r.status, r.done, r.total]), [['run-acme', 'running', 1, 3]]);
  assert.equal(all.view!.runs!.map((r) => r.run_id).sort(), ['run-acme', 'run-globex']);
  assert.not.ok('jobs' in acme.view!.runs![0]!, 'runs are sent without their job lists');
  assert.not.ok('idempotency_key' in acme.view!.runs![0]!);
  assert.ok(queries.includes('acme') && queries.includes(null), `provider queries: ${JSON.stringify(queries)}`);

  // A job event: the runs panel is read again and the change is pushed.
  states['run-acme'] = ['passed', 'passed', 'running'];
  await service.submit({ org_id: 'acme', app_version_id: 'acme-v1', test_path: 'tests/a.spec.js', priority: 5, target: 'emulator', platform: 'android', max_attempts: 3, timeout_ms: 60_000, test_retries: 0, build: 'auto' });
  await acme.until('run progress 2/3', (v) => v.runs?.[0]?.done === 2);
  await acme.until('the submitted job in its queue', (v) => v.queues.some((q) => q.app_version_id === 'acme-v1' && q.depth === 1));
  for (const raw of acme.raw) assert.not.match(raw, 'run-globex');
});

/** The namespace's contract at the type level (checked by `npm run typecheck`, never called). */
export function typeContract(p: Page): void {
  p.socket.on('update', (u) => u.queues?.[0]?.depth satisfies number | undefined);
  p.socket.on('snapshot', (s) => s.runs satisfies unknown[] | null);
  // @ts-expect-error a page only listens: it sends the coordinator nothing
  p.socket.emit('subscribe', { job_id: 'x' });
  // @ts-expect-error no such event
  p.socket.on('snapshots', () => {});
}

test.run();
