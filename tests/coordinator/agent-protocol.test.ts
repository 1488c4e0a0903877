/**
 * The coordinator's agent and watcher protocol at the wire: a real coordinator on 127.0.0.1 and
 * Socket.IO clients that speak the `/agents` protocol message by message. These tests drive the
 * protocol itself (acks, attempts, leases, replay); running real specs is the e2e tests' job.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCoordinator, type Coordinator } from '../../coordinator/index.js';
import { JobStore, parseDatabaseUrl } from '../../coordinator/store/index.js';
import type { Ack, AgentToCoordinator, Assignment, CoordinatorToAgent, CoordinatorToWatcher, JobEvent, JobView, WatcherToCoordinator } from '../../shared/index.js';
import { tempDir } from '../helpers/processes.js';

type AgentSock = Socket<CoordinatorToAgent, AgentToCoordinator>;
const sockets: Socket[] = [];
let coordinator: Coordinator;
let dbFile: string;

const options = () => ({ port: 0, databaseUrl: `sqlite:${dbFile}`, log: () => {}, heartbeatIntervalMs: 100, leaseMs: 1000, assignAckTimeoutMs: 300 });

const timers: NodeJS.Timeout[] = [];
/** Rejects after `ms`: a lost message fails the test instead of hanging the whole run. */
const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))]);

/** A new `/agents` connection that registers one slot `s1`, optionally still running some attempts; returns the socket and the reply. */
async function registerRaw(
  agentId: string,
  opts: { installed?: string | null; running?: Array<{ job_id: string; attempt_id: string }>; slotId?: string } = {},
  socket?: AgentSock,
) {
  const s: AgentSock = socket ?? io(`${coordinator.url}/agents`, { transports: ['websocket'], reconnection: false });
  if (!socket) sockets.push(s);
  const slotId = opts.slotId ?? 's1';
  const reply = await s.timeout(2000).emitWithAck('register', {
    agent_id: agentId,
    name: agentId,
    version: 'test',
    slots: [{ slot_id: slotId, target: 'emulator', platform: 'android', device_name: 'wire', endpoint: 'http://127.0.0.1:1', installed_app_version_id: opts.installed ?? null }],
    running: (opts.running ?? []).map((r) => ({ ...r, slot_id: slotId })),
  });
  return { socket: s, reply };
}

async function wireAgent(agentId: string, slotId: string, opts: { ackAssignments?: boolean } = {}) {
  const s: AgentSock = io(`${coordinator.url}/agents`, { transports: ['websocket'], reconnection: false });
  sockets.push(s);
  const assignments: Assignment[] = [];
  const running = new Map<string, Assignment>();
  let consumed = 0;
  let waiter: (() => void) | null = null;
  s.on('assign', (a, ack) => {
    assignments.push(a);
    waiter?.();
    if (opts.ackAssignments !== false) {
      running.set(a.attempt_id, a);
      ack({ ok: true });
    }
  });
  // Heartbeats with what it runs, as a real agent sends them; they stop when the socket closes.
  const beat = setInterval(() => {
    if (s.connected) s.emit('heartbeat', { running: [...running.values()].map((a) => ({ job_id: a.job_id, attempt_id: a.attempt_id, slot_id: a.slot_id })) }, () => {});
  }, 100);
  timers.push(beat);
  const { reply } = await registerRaw(agentId, { slotId }, s);
  assert.ok(reply.ok, JSON.stringify(reply));

  return {
    socket: s,
    assignments,
    /** The next assignment this agent receives (in order). */
    next: async (): Promise<Assignment> => {
      const arrived = (async () => {
        while (assignments.length <= consumed) await new Promise<void>((resolve) => (waiter = resolve));
      })();
      await within(arrived, 10_000, `an assignment for ${agentId}`);
      return assignments[consumed++]!;
    },
    send: async <E extends keyof AgentToCoordinator>(event: E, payload: Parameters<AgentToCoordinator[E]>[0]): Promise<Ack> => {
      const reply = await (s.timeout(2000).emitWithAck as (e: string, p: unknown) => Promise<Ack>)(event, payload);
      if (event === 'finished') running.delete((payload as { attempt_id: string }).attempt_id);
      return reply;
    },
  };
}

const submit = async (body: Record<string, unknown> = {}) => {
  const res = await fetch(`${coordinator.url}/api/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ org_id: 'org', app_version_id: 'v1', test_path: 'tests/a.spec.js', target: 'emulator', ...body }),
  });
  assert.is(res.status, 201);
  return ((await res.json()) as { job_id: string }).job_id;
};
const getJob = async (id: string) => (await (await fetch(`${coordinator.url}/api/v1/jobs/${id}`)).json()) as JobView;
const finished = (a: Assignment, outcome: 'passed' | 'failed' | 'error', extra: Record<string, unknown> = {}) => ({
  job_id: a.job_id,
  attempt_id: a.attempt_id,
  outcome,
  error_message: outcome === 'passed' ? null : 'Error: boom',
  test_cases: [{ title: 't', full_title: 't', status: outcome === 'passed' ? ('passed' as const) : ('failed' as const), duration_ms: 5, error_message: null, retry: 0 }],
  duration_ms: 10,
  log_chunks: 0,
  video: null,
  video_note: 'no video from the wire agent',
  ...extra,
});
const line = (text: string) => ({ at_ms: Date.now(), stream: 'stdout' as const, text });

test.before.each(async () => {
  dbFile = join(tempDir('proto'), 'db.sqlite');
  coordinator = await startCoordinator(options());
});
test.after.each(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const s of sockets.splice(0)) s.close();
  await coordinator.close();
});

test('an unacknowledged assignment is taken back and given to another slot; the old attempt is refused', async () => {
  const silent = await wireAgent('agent-silent', 's1', { ackAssignments: false });
  const jobId = await submit();
  const first = await silent.next();
  const good = await wireAgent('agent-good', 's1');
  const second = await good.next();
  assert.is(second.job_id, jobId);
  assert.is(second.attempt, 2);
  assert.is.not(second.attempt_id, first.attempt_id);
  // The silent agent wakes up late: its attempt is stale and cannot change the job.
  const late = await silent.send('started', { job_id: jobId, attempt_id: first.attempt_id, install: null });
  assert.is(!late.ok && late.error.code, 'stale_attempt');
  assert.ok((await good.send('started', { job_id: jobId, attempt_id: second.attempt_id, install: { app_version_id: 'v1', duration_ms: 42 } })).ok);
  assert.ok((await good.send('finished', finished(second, 'passed'))).ok);
  const staleFinish = await silent.send('finished', finished(first, 'failed'));
  assert.not.ok(staleFinish.ok);
  const job = await getJob(jobId);
  assert.is(job.status, 'passed');
  assert.is(job.attempts, 2);
  assert.is(job.installed_build, true);
});

test('log chunks are refused for a stale attempt and deduplicated by seq', async () => {
  const a = await wireAgent('agent-a', 's1');
  const jobId = await submit();
  const asg = await a.next();
  assert.ok((await a.send('started', { job_id: jobId, attempt_id: asg.attempt_id, install: null })).ok);
  assert.ok((await a.send('log', { job_id: jobId, attempt_id: asg.attempt_id, seq: 0, lines: [line('one')] })).ok);
  assert.ok((await a.send('log', { job_id: jobId, attempt_id: asg.attempt_id, seq: 0, lines: [line('one')] })).ok); // resent
  const stale = await a.send('log', { job_id: jobId, attempt_id: `${asg.attempt_id}x`, seq: 1, lines: [line('ghost')] });
  assert.is(!stale.ok && stale.error.code, 'stale_attempt');
  const bad = await a.send('log', { job_id: jobId, attempt_id: asg.attempt_id, seq: -1, lines: [] } as never);
  assert.is(!bad.ok && bad.error.code, 'validation_failed');
  assert.ok((await a.send('finished', finished(asg, 'passed'))).ok);
  const store = await JobStore.open(parseDatabaseUrl(`sqlite:${dbFile}`));
  const logs = (await store.eventsAfter(jobId, 0)).filter((e) => e.kind === 'log');
  await store.close();
  assert.is(logs.length, 1);
});

test('a video reported with the result lands in video_results and in the job', async () => {
  const a = await wireAgent('agent-v', 's1');
  const jobId = await submit();
  const asg = await a.next();
  await a.send('started', { job_id: jobId, attempt_id: asg.attempt_id, install: null });
  await a.send('finished', finished(asg, 'passed', { video: { url: 'https://videos.example/x.mp4', platform: 'android' }, video_note: null }));
  const job = await getJob(jobId);
  assert.is(job.video!.url, 'https://videos.example/x.mp4');
  const store = await JobStore.open(parseDatabaseUrl(`sqlite:${dbFile}`));
  const v = await store.getVideo(jobId);
  await store.close();
  assert.equal([v!.jobId, v!.platform, v!.videoUrl], [jobId, 'android', 'https://videos.example/x.mp4']);
  assert.ok(v!.timestamp instanceof Date);
});

test('an agent that goes silent loses its lease; the job runs again elsewhere, once', async () => {
  const a = await wireAgent('agent-dies', 's1');
  const jobId = await submit();
  const asg = await a.next();
  await a.send('started', { job_id: jobId, attempt_id: asg.attempt_id, install: null });
  a.socket.close(); // no heartbeats any more
  const b = await wireAgent('agent-b', 's1');
  const again = await b.next();
  assert.is(again.job_id, jobId);
  assert.is(again.attempt, 2);
  await b.send('started', { job_id: jobId, attempt_id: again.attempt_id, install: null });
  await b.send('finished', finished(again, 'failed'));
  const job = await getJob(jobId);
  assert.is(job.status, 'failed');
  assert.equal(job.error, { reason: 'test_failed', message: 'Error: boom' }, 'the earlier agent_lost reason gives way to the result');
});

test('an infrastructure error is retried up to max_attempts, then the job ends in error', async () => {
  const a = await wireAgent('agent-broken', 's1');
  const jobId = await submit({ max_attempts: 2 });
  for (let i = 1; i <= 2; i++) {
    const asg = await a.next();
    assert.is(asg.attempt, i);
    await a.send('started', { job_id: jobId, attempt_id: asg.attempt_id, install: null });
    await a.send('finished', finished(asg, 'error'));
  }
  const job = await getJob(jobId);
  assert.is(job.status, 'error');
  assert.is(job.error!.reason, 'runner_error');
  assert.match(job.error!.message, /gave up after 2 attempt/);
});

test('a late watcher gets every event it missed, then live ones, with no gap or duplicate, then the end', async () => {
  const a = await wireAgent('agent-w', 's1');
  const jobId = await submit();
  const asg = await a.next();
  await a.send('started', { job_id: jobId, attempt_id: asg.attempt_id, install: null });
  for (let seq = 0; seq < 3; seq++) await a.send('log', { job_id: jobId, attempt_id: asg.attempt_id, seq, lines: [line(`early ${seq}`)] });

  const w: Socket<CoordinatorToWatcher, WatcherToCoordinator> = io(`${coordinator.url}/watch`, { transports: ['websocket'], reconnection: false });
  sockets.push(w);
  const events: JobEvent[] = [];
  const ended = new Promise<JobView>((resolve) => w.on('end', (e) => resolve(e.job)));
  w.on('event', (e) => events.push(e));
  const sub = await w.timeout(2000).emitWithAck('subscribe', { job_id: jobId });
  assert.ok(sub.ok);
  // Live lines race with the replay on purpose.
  const live = (async () => {
    for (let seq = 3; seq < 8; seq++) await a.send('log', { job_id: jobId, attempt_id: asg.attempt_id, seq, lines: [line(`live ${seq}`)] });
    await a.send('finished', finished(asg, 'passed'));
  })();
  const job = await within(ended, 10_000, 'the end of the stream');
  await live;
  assert.is(job.status, 'passed');
  assert.equal(events.map((e) => e.event_id), events.map((_, i) => i + 1), 'event ids 1..n in order');
  const texts = events.flatMap((e) => (e.type === 'log' ? e.lines.map((l) => l.text) : []));
  assert.equal(texts, ['early 0', 'early 1', 'early 2', 'live 3', 'live 4', 'live 5', 'live 6', 'live 7']);
  const states = events.flatMap((e) => (e.type === 'state' ? [e.to] : []));
  assert.equal(states, ['queued', 'assigned', 'running', 'passed']);

  // Resuming after an event id replays only what came after it.
  const w2: Socket<CoordinatorToWatcher, WatcherToCoordinator> = io(`${coordinator.url}/watch`, { transports: ['websocket'], reconnection: false });
  sockets.push(w2);
  const tail: number[] = [];
  w2.on('event', (e) => tail.push(e.event_id));
  const end2 = new Promise((resolve) => w2.on('end', resolve));
  await w2.timeout(2000).emitWithAck('subscribe', { job_id: jobId, after_event_id: events.length - 2 });
  await within(end2, 10_000, 'the end of the resumed stream');
  assert.equal(tail, [events.length - 1, events.length]);
});

test('queued jobs survive a coordinator restart and are dispatched afterwards', async () => {
  const ids = [await submit(), await submit({ app_version_id: 'v2' })];
  await coordinator.close();
  coordinator = await startCoordinator(options());
  for (const id of ids) assert.is((await getJob(id)).status, 'queued');
  const health = (await (await fetch(`${coordinator.url}/healthz`)).json()) as { queued: number };
  assert.is(health.queued, 2);
  const a = await wireAgent('agent-r', 's1');
  const got = await a.next();
  assert.ok(ids.includes(got.job_id));
});

test('HTTP: validation errors name the fields; unknown ids and routes are 404 with a code', async () => {
  const res = await fetch(`${coordinator.url}/api/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ org_id: 'o', target: 'phone', priority: 0, extra: true }) });
  assert.is(res.status, 400);
  const body = (await res.json()) as { error: { code: string; message: string; fields: Record<string, string> } };
  assert.is(body.error.code, 'validation_failed');
  for (const f of ['app_version_id', 'test_path', 'target', 'priority', 'extra']) assert.ok(f in body.error.fields, `field ${f} in ${JSON.stringify(body.error.fields)}`);
  const notJson = await fetch(`${coordinator.url}/api/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
  assert.is(notJson.status, 400);
  assert.is(((await notJson.json()) as { error: { code: string } }).error.code, 'invalid_json');
  const missing = await fetch(`${coordinator.url}/api/v1/jobs/job_nope`);
  assert.is(missing.status, 404);
  assert.is(((await missing.json()) as { error: { code: string } }).error.code, 'job_not_found');
  const route = await fetch(`${coordinator.url}/api/v1/nothing`);
  assert.is(((await route.json()) as { error: { code: string } }).error.code, 'not_found');
  const badList = await fetch(`${coordinator.url}/api/v1/jobs?status=nope`);
  assert.is(badList.status, 400);
  const big = await fetch(`${coordinator.url}/api/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ org_id: 'x'.repeat(70_000) }) });
  assert.is(big.status, 413);
  assert.is(((await big.json()) as { error: { code: string } }).error.code, 'payload_too_large');
});

/** POSTs `body` in chunks without a Content-Length (Transfer-Encoding: chunked). */
function postChunked(url: string, body: string): Promise<{ status: number; body: { job_id?: string; error?: { code: string } } }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { job_id?: string } }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (let i = 0; i < body.length; i += 1000) req.write(body.slice(i, i + 1000));
    req.end();
  });
}

test('HTTP: a chunked submit (no Content-Length) is read and limited while it streams', async () => {
  const ok = await postChunked(`${coordinator.url}/api/v1/jobs`, JSON.stringify({ org_id: 'chunked', app_version_id: 'v1', test_path: 'tests/a.spec.js', target: 'emulator' }));
  assert.is(ok.status, 201, JSON.stringify(ok.body));
  assert.match(ok.body.job_id ?? '', /^job_/);
  assert.is(((await (await fetch(`${coordinator.url}/api/v1/jobs/${ok.body.job_id}`)).json()) as JobView).org_id, 'chunked');
  const big = await postChunked(`${coordinator.url}/api/v1/jobs`, JSON.stringify({ org_id: 'x'.repeat(70_000) }));
  assert.is(big.status, 413);
  assert.is(big.body.error?.code, 'payload_too_large');
  await fetch(`${coordinator.url}/api/v1/jobs/${ok.body.job_id}/cancel`, { method: 'POST' });
});

test('HTTP: list filters and pages; cancel a queued job; cancelling twice is a 409', async () => {
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await submit({ org_id: 'org-list' }));
  await submit({ org_id: 'other' });
  const p1 = (await (await fetch(`${coordinator.url}/api/v1/jobs?org_id=org-list&limit=2`)).json()) as { jobs: JobView[]; next_cursor: string };
  assert.equal(p1.jobs.map((j) => j.job_id), [ids[2], ids[1]]);
  const p2 = (await (await fetch(`${coordinator.url}/api/v1/jobs?org_id=org-list&limit=2&cursor=${p1.next_cursor}`)).json()) as { jobs: JobView[]; next_cursor: string | null };
  assert.equal(p2.jobs.map((j) => j.job_id), [ids[0]]);
  assert.is(p2.next_cursor, null);
  assert.match(p2.jobs[0]!.waiting_reason ?? '', /no connected slot serves emulator\/android/);
  const c1 = await fetch(`${coordinator.url}/api/v1/jobs/${ids[0]}/cancel`, { method: 'POST' });
  assert.is(((await c1.json()) as JobView).status, 'cancelled');
  const c2 = await fetch(`${coordinator.url}/api/v1/jobs/${ids[0]}/cancel`, { method: 'POST' });
  assert.is(c2.status, 409);
  assert.is(((await c2.json()) as { error: { code: string } }).error.code, 'illegal_transition');
});

test('cancelling a running job pushes a cancel to its agent; its late result is refused', async () => {
  const a = await wireAgent('agent-c', 's1');
  const cancels: string[] = [];
  a.socket.on('cancel', (c) => cancels.push(c.attempt_id));
  const jobId = await submit();
  const asg = await a.next();
  await a.send('started', { job_id: jobId, attempt_id: asg.attempt_id, install: null });
  const res = await fetch(`${coordinator.url}/api/v1/jobs/${jobId}/cancel`, { method: 'POST' });
  assert.is(((await res.json()) as JobView).status, 'cancelled');
  const late = await a.send('finished', finished(asg, 'passed'));
  assert.is(!late.ok && late.error.code, 'stale_attempt');
  assert.equal(cancels, [asg.attempt_id]);
  assert.is((await getJob(jobId)).status, 'cancelled');
  // The slot is free again: the next job reaches the same agent.
  const next = await submit();
  assert.is((await a.next()).job_id, next);
});

test('ids with a slash are refused at register, and the coordinator keeps serving', async () => {
  await submit();
  const { reply } = await registerRaw('lab/host-1');
  assert.is(!reply.ok && reply.error.code, 'validation_failed');
  const ok = await wireAgent('lab-host-1', 's1');
  assert.ok((await ok.next()).job_id.startsWith('job_'));
});

test('started and finished are idempotent for the same attempt; a result before started is refused', async () => {
  const a = await wireAgent('agent-idem', 's1');
  const jobId = await submit();
  const asg = await a.next();
  const early = await a.send('finished', finished(asg, 'passed'));
  assert.is(!early.ok && early.error.code, 'illegal_transition');
  assert.is((await getJob(jobId)).status, 'assigned');
  assert.ok((await a.send('started', { job_id: jobId, attempt_id: asg.attempt_id, install: null })).ok);
  assert.ok((await a.send('started', { job_id: jobId, attempt_id: asg.attempt_id, install: null })).ok, 'a resent started is fine');
  assert.ok((await a.send('finished', finished(asg, 'passed'))).ok);
  const again = await a.send('finished', finished(asg, 'passed'));
  assert.ok(again.ok, `a resent result of the attempt that ended the job is acknowledged: ${JSON.stringify(again)}`);
  assert.is((await getJob(jobId)).status, 'passed');
});

test('logs and results for an attempt on another agent\'s slot are refused', async () => {
  const a = await wireAgent('agent-owner', 's1');
  const jobId = await submit();
  const asg = await a.next();
  await a.send('started', { job_id: jobId, attempt_id: asg.attempt_id, install: null });
  const intruder = await wireAgent('agent-intruder', 's1');
  const log = await intruder.send('log', { job_id: jobId, attempt_id: asg.attempt_id, seq: 0, lines: [line('forged')] });
  assert.is(!log.ok && log.error.code, 'stale_attempt');
  const fin = await intruder.send('finished', finished(asg, 'passed'));
  assert.is(!fin.ok && fin.error.code, 'stale_attempt');
  assert.is((await getJob(jobId)).status, 'running');
});

test('a result reached while disconnected is accepted after the agent re-registers with it', async () => {
  const a = await wireAgent('agent-flaky', 's1');
  const jobId = await submit();
  const asg = await a.next();
  await a.send('started', { job_id: jobId, attempt_id: asg.attempt_id, install: null });
  a.socket.close();
  // The same agent comes back on a new connection, still holding the attempt (its result not yet acknowledged).
  const { socket: s, reply } = await registerRaw('agent-flaky', { installed: 'v1', running: [{ job_id: jobId, attempt_id: asg.attempt_id }] });
  assert.ok(reply.ok && reply.cancel_attempts.length === 0, JSON.stringify(reply));
  const fin = await s.timeout(2000).emitWithAck('finished', finished(asg, 'passed'));
  assert.ok(fin.ok, JSON.stringify(fin));
  const job = await getJob(jobId);
  assert.is(job.status, 'passed');
  assert.is(job.attempts, 1);
});

test('a job cancelled while its agent was away is stopped when the agent comes back', async () => {
  const a = await wireAgent('agent-away', 's1');
  const jobId = await submit();
  const asg = await a.next();
  await a.send('started', { job_id: jobId, attempt_id: asg.attempt_id, install: null });
  a.socket.close();
  const res = await fetch(`${coordinator.url}/api/v1/jobs/${jobId}/cancel`, { method: 'POST' });
  assert.is(((await res.json()) as JobView).status, 'cancelled');
  const { socket: s, reply } = await registerRaw('agent-away', { installed: 'v1', running: [{ job_id: jobId, attempt_id: asg.attempt_id }] });
  assert.ok(reply.ok);
  assert.equal(reply.ok && reply.cancel_attempts, [asg.attempt_id]);
});

test.run();
