/**
 * Runs over HTTP and `/watch`, on a real coordinator (in-process, 127.0.0.1:0) with SQLite, and with
 * MySQL when QGJOB_TEST_MYSQL_URL is set: create, validation, idempotency (also under concurrency,
 * where the loser's jobs must vanish with it), rerun of failures, cancel, list, and live updates.
 * Jobs are run by a wire agent that speaks the `/agents` protocol; each test uses its own org and,
 * when an agent runs its jobs, its own target/platform, so tests do not take each other's jobs.
 */
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startCoordinator, type Coordinator } from '../../coordinator/index.js';
import type { Ack, CoordinatorToWatcher, JobList, JobView, RunJobUpdate, RunList, RunSnapshot, RunView, SubmitRunReply, WatcherToCoordinator } from '../../shared/index.js';
import { freshMysqlDatabase, tempDir } from '../helpers/processes.js';
import { connectWireAgent, type WireAgent } from '../helpers/wire-agent.js';

interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

function runsSuite(name: string, databaseUrl: () => Promise<string | { skip: string }>, cleanup: () => Promise<void> = async () => {}) {
  const s = suite(name);
  const skipped = name.startsWith('mysql') && !process.env.QGJOB_TEST_MYSQL_URL;
  if (skipped) console.log(`  (${name}: skipped: QGJOB_TEST_MYSQL_URL is not set, e.g. mysql://root@127.0.0.1:3306/test)`);
  let coordinator: Coordinator | undefined;
  const agents: WireAgent[] = [];
  const watchers: Socket[] = [];

  s.before(async () => {
    if (skipped) return;
    const db = await databaseUrl();
    if (typeof db !== 'string') throw new Error(db.skip);
    coordinator = await startCoordinator({ port: 0, databaseUrl: db, dataDir: tempDir('runs-api'), log: () => {}, heartbeatIntervalMs: 100, leaseMs: 2000, assignAckTimeoutMs: 1000 });
  });
  s.after.each(() => {
    for (const a of agents.splice(0)) a.close();
    for (const w of watchers.splice(0)) w.close();
  });
  s.after(async () => {
    await coordinator?.close();
    await cleanup();
  });
  const t = (title: string, fn: () => Promise<void>) => (skipped ? s.skip(title, () => {}) : s(title, fn));

  const call = async <T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown, raw?: string): Promise<Answer<T>> => {
    const res = await fetch(coordinator!.url + path, {
      method,
      ...(body !== undefined || raw !== undefined ? { headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as T, headers: res.headers };
  };
  const spec = (org: string, tests: string[], over: Record<string, unknown> = {}) => ({ org_id: org, app_version_id: 'v1', target: 'browserstack', platform: 'ios', tests, ...over });
  const submit = async (body: unknown, want = 201) => {
    const r = await call<SubmitRunReply>('POST', '/api/v1/runs', body);
    assert.is(r.status, want, JSON.stringify(r.body));
    return r;
  };
  const getRun = async (id: string) => (await call<RunView>('GET', `/api/v1/runs/${id}`)).body;
  const jobsOfOrg = async (org: string) => (await call<JobList>('GET', `/api/v1/jobs?org_id=${org}&limit=200`)).body.jobs;
  const agent = async (id: string, target: string, platform: string) => {
    const a = await connectWireAgent(coordinator!.url, id, { target, platform });
    agents.push(a);
    return a;
  };
  /** Polls the run until `pred` holds (observing only: the agent does the work). */
  const runUntil = async (id: string, pred: (r: RunView) => boolean, what: string) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await getRun(id);
      if (pred(r)) return r;
      if (Date.now() > deadline) throw new Error(`run ${id} never got ${what}: ${JSON.stringify(r.counts)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };

  t('a run: 201 with Location, one queued job per test in order, each job naming its run', async () => {
    const tests = ['tests/c.spec.js', 'tests/a.spec.js', 'tests/b.spec.js'];
    const r = await submit(spec('org-create', tests, { name: 'CI #1', priority: 7 }));
    assert.is(r.headers.get('location'), `/api/v1/runs/${r.body.run_id}`);
    assert.match(r.body.run_id, /^run_[0-9A-Z]{26}$/);
    assert.is(r.body.created, true);
    assert.equal(r.body.jobs.map((j) => j.test_path), tests);
    const run = await getRun(r.body.run_id);
    assert.is(run.status, 'queued');
    assert.is(run.name, 'CI #1');
    assert.is(run.total, 3);
    assert.is(run.done, 0);
    assert.is(run.counts.queued, 3);
    assert.is(run.counts.passed, 0);
    assert.is(Object.keys(run.counts).length, 8);
    assert.is(run.finished_at, null);
    assert.is(run.duration_ms, null);
    assert.equal(run.jobs.map((j) => j.job_id), r.body.jobs.map((j) => j.job_id));
    assert.ok(run.jobs.every((j) => j.run_id === run.run_id && j.priority === 7 && j.status === 'queued'));
    const job = (await call<JobView>('GET', `/api/v1/jobs/${r.body.jobs[0]!.job_id}`)).body;
    assert.is(job.run_id, run.run_id);
    const single = await call<{ job_id: string }>('POST', '/api/v1/jobs', { org_id: 'org-create', app_version_id: 'v1', target: 'browserstack', platform: 'ios', test_path: 'tests/x.spec.js' });
    assert.is((await call<JobView>('GET', `/api/v1/jobs/${single.body.job_id}`)).body.run_id, null);
  });

  t('bad input: 400 validation_failed naming the fields; 404 run_not_found; 1000 long paths fit', async () => {
    const bad = async (body: unknown, field: string, raw?: string) => {
      const r = await call<{ error: { code: string; fields?: Record<string, string> } }>('POST', '/api/v1/runs', body, raw);
      assert.is(r.status, 400, JSON.stringify(r.body));
      assert.is(r.body.error.code, field === '(json)' ? 'invalid_json' : 'validation_failed');
      if (field !== '(json)') assert.ok(r.body.error.fields?.[field], `${field} in ${JSON.stringify(r.body.error.fields)}`);
    };
    await bad({ org_id: 'o', app_version_id: 'v', target: 'emulator' }, 'tests');
    await bad(spec('o', []), 'tests');
    await bad(spec('o', ['tests/a.spec.js', 'tests/a.spec.js']), 'tests');
    await bad(spec('o', ['tests/a.spec.js', '../etc/passwd']), 'tests.1');
    await bad(spec('o', ['tests/a.spec.js'], { test_path: 'tests/a.spec.js' }), 'test_path');
    await bad(spec('o', ['tests/a.spec.js'], { idempotency_key: '' }), 'idempotency_key');
    await bad(spec('o', ['tests/a.spec.js'], { priority: 11 }), 'priority');
    await bad(spec('o', Array.from({ length: 1001 }, (_, i) => `tests/t${i}.spec.js`)), 'tests');
    await bad(undefined, '(json)', '{"org_id":');
    const missing = await call<{ error: { code: string } }>('GET', '/api/v1/runs/run_01M89ECP7T3RV1B4F1E4X69QCB');
    assert.is(missing.status, 404);
    assert.is(missing.body.error.code, 'run_not_found');
    const badRerun = await call<{ error: { code: string; fields: Record<string, string> } }>('POST', '/api/v1/runs/run_x/rerun', { only: 'some' });
    assert.is(badRerun.status, 400);
    assert.ok(badRerun.body.error.fields.only);
    // The largest run: 1000 spec paths of 1000 characters each (about 1 MB of JSON).
    const long = Array.from({ length: 1000 }, (_, i) => `tests/${String(i).padStart(4, '0')}-${'x'.repeat(980)}.spec.js`);
    const big = await submit(spec('org-big', long));
    assert.is(big.body.jobs.length, 1000);
    const run = await getRun(big.body.run_id);
    assert.equal(run.jobs.map((j) => j.test_path), long);
  });

  t('idempotency: the same key and payload return the run; another payload is 409; keys are per org', async () => {
    const body = spec('org-idem', ['tests/a.spec.js', 'tests/b.spec.js'], { idempotency_key: 'github:acme/app:812:1:e2e', name: 'CI #812' });
    const first = await submit(body, 201);
    const again = await submit(body, 200);
    assert.is(again.body.created, false);
    assert.is(again.body.run_id, first.body.run_id);
    assert.equal(again.body.jobs, first.body.jobs);
    assert.is(again.headers.get('location'), `/api/v1/runs/${first.body.run_id}`);
    for (const [change, field] of [[{ tests: ['tests/a.spec.js'] }, 'tests'], [{ priority: 9 }, 'priority'], [{ name: 'CI #813' }, 'name']] as const) {
      const r = await call<{ error: { code: string; message: string; fields: Record<string, string> } }>('POST', '/api/v1/runs', { ...body, ...change });
      assert.is(r.status, 409);
      assert.is(r.body.error.code, 'idempotency_conflict');
      assert.ok(r.body.error.fields[field], JSON.stringify(r.body.error));
      assert.match(r.body.error.message, first.body.run_id);
    }
    assert.is((await jobsOfOrg('org-idem')).length, 2, 'no job was added by the replays and conflicts');
    const otherOrg = await submit({ ...body, org_id: 'org-idem-2' }, 201);
    assert.is.not(otherOrg.body.run_id, first.body.run_id);
  });

  t('concurrent submissions with one key make one run; the losers leave no job behind', async () => {
    const body = spec('org-race', ['tests/a.spec.js', 'tests/b.spec.js', 'tests/c.spec.js'], { idempotency_key: 'race-1' });
    const answers = await Promise.all(Array.from({ length: 8 }, () => call<SubmitRunReply>('POST', '/api/v1/runs', body)));
    assert.equal(answers.map((a) => a.status).sort(), [200, 200, 200, 200, 200, 200, 200, 201], JSON.stringify(answers.map((a) => a.body)));
    const ids = new Set(answers.map((a) => a.body.run_id));
    assert.is(ids.size, 1);
    const jobIds = new Set(answers.flatMap((a) => a.body.jobs.map((j) => j.job_id)));
    assert.is(jobIds.size, 3);
    assert.equal(new Set((await jobsOfOrg('org-race')).map((j) => j.job_id)), jobIds);
    assert.is((await call<RunList>('GET', '/api/v1/runs?org_id=org-race')).body.runs.length, 1);
  });

  t('rerun: refused while jobs run and when nothing failed; then only the failures, or all', async () => {
    const a = await agent('rerun-agent', 'emulator', 'android');
    const tests = ['tests/pass.spec.js', 'tests/fail.spec.js', 'tests/broken.spec.js'];
    const first = await submit(spec('org-rerun', tests, { target: 'emulator', platform: 'android', max_attempts: 1, name: 'nightly' }));
    const id = first.body.run_id;
    const one = await a.next();
    const early = await call<{ error: { code: string; message: string } }>('POST', `/api/v1/runs/${id}/rerun`);
    assert.is(early.status, 409);
    assert.is(early.body.error.code, 'illegal_transition');
    assert.match(early.body.error.message, /unfinished/);
    const outcome = (p: string) => (p.includes('pass') ? 'passed' : p.includes('fail') ? 'failed' : 'error');
    await a.run(one, outcome(one.test_path));
    for (let i = 0; i < 2; i++) {
      const next = await a.next();
      await a.run(next, outcome(next.test_path));
    }
    const ended = await runUntil(id, (r) => r.done === 3, 'all jobs ended');
    assert.is(ended.status, 'failed');
    assert.equal(ended.jobs.map((j) => j.status), ['passed', 'failed', 'error']);
    assert.ok(ended.finished_at && ended.duration_ms !== null);

    const rerun = await call<SubmitRunReply>('POST', `/api/v1/runs/${id}/rerun`, { idempotency_key: 'rerun-1' });
    assert.is(rerun.status, 201, JSON.stringify(rerun.body));
    assert.equal(rerun.body.jobs.map((j) => j.test_path), ['tests/fail.spec.js', 'tests/broken.spec.js']);
    const second = await getRun(rerun.body.run_id);
    assert.is(second.rerun_of, id);
    assert.is(second.name, 'nightly');
    assert.equal(second.jobs.map((j) => j.resubmitted_from), [ended.jobs[1]!.job_id, ended.jobs[2]!.job_id]);
    assert.ok(second.jobs.every((j) => j.max_attempts === 1 && j.target === 'emulator'));
    // The same rerun key again: the same run (a retried CI step does not rerun twice).
    const replay = await call<SubmitRunReply>('POST', `/api/v1/runs/${id}/rerun`, { idempotency_key: 'rerun-1' });
    assert.is(replay.status, 200);
    assert.is(replay.body.run_id, rerun.body.run_id);
    for (let i = 0; i < 2; i++) await a.run(await a.next(), 'passed');
    const fixed = await runUntil(rerun.body.run_id, (r) => r.done === 2, 'both jobs ended');
    assert.is(fixed.status, 'passed');

    const nothing = await call<{ error: { code: string; message: string } }>('POST', `/api/v1/runs/${rerun.body.run_id}/rerun`, {});
    assert.is(nothing.status, 409);
    assert.is(nothing.body.error.code, 'illegal_transition');
    assert.match(nothing.body.error.message, /no failed jobs/);
    const all = await call<SubmitRunReply>('POST', `/api/v1/runs/${rerun.body.run_id}/rerun`, { only: 'all' });
    assert.is(all.status, 201);
    assert.equal(all.body.jobs.map((j) => j.test_path), ['tests/fail.spec.js', 'tests/broken.spec.js']);
    await call('POST', `/api/v1/runs/${all.body.run_id}/cancel`);
  });

  t('cancel: every unfinished job is cancelled and its agent told; a second cancel is 409', async () => {
    const a = await agent('cancel-agent', 'device', 'android');
    const r = await submit(spec('org-cancel', ['tests/a.spec.js', 'tests/b.spec.js', 'tests/c.spec.js'], { target: 'device', platform: 'android' }));
    const running = await a.next();
    await a.run(running, 'passed');
    const onSlot = await a.next();
    const cancelled = await call<RunView>('POST', `/api/v1/runs/${r.body.run_id}/cancel`);
    assert.is(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.is(cancelled.body.done, 3);
    assert.is(cancelled.body.counts.passed, 1);
    assert.is(cancelled.body.counts.cancelled, 2);
    assert.is(cancelled.body.status, 'cancelled');
    assert.equal(a.cancels.map((c) => c.attempt_id), [onSlot.attempt_id]);
    const again = await call<{ error: { code: string } }>('POST', `/api/v1/runs/${r.body.run_id}/cancel`);
    assert.is(again.status, 409);
    assert.is(again.body.error.code, 'illegal_transition');
    const missing = await call<{ error: { code: string } }>('POST', '/api/v1/runs/run_nope/cancel');
    assert.is(missing.status, 404);
  });

  t('list: newest first, filtered by org and status, paged with a cursor; bad queries are 400', async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await submit(spec('org-list', [`tests/${n}.spec.js`]))).body.run_id);
    await call('POST', `/api/v1/runs/${ids[1]}/cancel`);
    const page1 = (await call<RunList>('GET', '/api/v1/runs?org_id=org-list&limit=2')).body;
    assert.equal(page1.runs.map((r) => r.run_id), [ids[2], ids[1]]);
    assert.is(page1.next_cursor, ids[1]);
    const page2 = (await call<RunList>('GET', `/api/v1/runs?org_id=org-list&limit=2&cursor=${page1.next_cursor}`)).body;
    assert.equal(page2.runs.map((r) => r.run_id), [ids[0]]);
    assert.is(page2.next_cursor, null);
    assert.equal((await call<RunList>('GET', '/api/v1/runs?org_id=org-list&status=cancelled')).body.runs.map((r) => r.run_id), [ids[1]]);
    assert.equal((await call<RunList>('GET', '/api/v1/runs?org_id=org-list&status=queued')).body.runs.map((r) => r.run_id), [ids[2], ids[0]]);
    for (const q of ['status=done', 'limit=0', 'limit=101', 'cursor=job_x', 'colour=red']) {
      const r = await call<{ error: { code: string } }>('GET', `/api/v1/runs?${q}`);
      assert.is(r.status, 400, q);
      assert.is(r.body.error.code, 'validation_failed');
    }
  });

  t('watch: subscribe_run gives the run, then each state change of its jobs, then one run_end', async () => {
    const r = await submit(spec('org-watch', ['tests/a.spec.js', 'tests/b.spec.js'], { target: 'emulator', platform: 'ios' }));
    const w: Socket<CoordinatorToWatcher, WatcherToCoordinator> = io(`${coordinator!.url}/watch`, { transports: ['websocket'], reconnection: false });
    watchers.push(w);
    const updates: RunJobUpdate[] = [];
    const ends: RunView[] = [];
    let ended: () => void = () => {};
    const end = new Promise<void>((resolve) => (ended = resolve));
    w.on('run_job', (u) => updates.push(u));
    w.on('run_end', (p) => {
      ends.push(p.run);
      ended();
    });
    const ack = (await w.timeout(5000).emitWithAck('subscribe_run', { run_id: r.body.run_id })) as Ack<RunSnapshot>;
    assert.ok(ack.ok, JSON.stringify(ack));
    if (!ack.ok) return;
    assert.is(ack.run.status, 'queued');
    assert.equal(ack.event_ids, Object.fromEntries(r.body.jobs.map((j) => [j.job_id, 1])));

    const a = await agent('watch-agent', 'emulator', 'ios');
    for (let i = 0; i < 2; i++) {
      const next = await a.next();
      await a.run(next, next.test_path === 'tests/a.spec.js' ? 'passed' : 'failed');
    }
    await end;
    assert.is(ends.length, 1);
    assert.is(ends[0]!.status, 'failed');
    assert.equal(ends[0]!.jobs.map((j) => j.status), ['passed', 'failed']);
    assert.match(ends[0]!.jobs[1]!.test_cases[0]!.error_message ?? '', /boom/);
    for (const job of r.body.jobs) {
      const mine = updates.filter((u) => u.job.job_id === job.job_id);
      assert.equal(mine.map((u) => u.job.status).slice(0, 2), ['assigned', 'running']);
      assert.ok(mine.every((u, i) => u.run_id === r.body.run_id && u.event_id > (i === 0 ? 1 : mine[i - 1]!.event_id)), 'event ids grow');
      assert.ok(['passed', 'failed'].includes(mine[mine.length - 1]!.job.status));
    }
    // A late subscriber to an ended run gets the final view and run_end at once.
    const late = (await w.timeout(5000).emitWithAck('subscribe_run', { run_id: r.body.run_id })) as Ack<RunSnapshot>;
    assert.ok(late.ok && late.run.status === 'failed');
    const unknown = (await w.timeout(5000).emitWithAck('subscribe_run', { run_id: 'run_nope' })) as Ack<RunSnapshot>;
    assert.ok(!unknown.ok && unknown.error.code === 'run_not_found');
  });

  s.run();
}

/** Type tests of the run events on `/watch` (checked by `npm run typecheck`, never called). */
function runWatchTypes(w: Socket<CoordinatorToWatcher, WatcherToCoordinator>): void {
  // @ts-expect-error subscribe_run names a run, not a job
  w.emit('subscribe_run', { job_id: 'job_1' }, () => {});
  // @ts-expect-error run_end carries the run, not a job
  w.on('run_end', (p: { job: JobView }) => p);
  w.on('run_job', (p: RunJobUpdate) => p.event_id);
}

void runWatchTypes;
const dir = tempDir('runs-api-db');
runsSuite('sqlite runs api', async () => `sqlite:${join(dir, 'qgjob.sqlite')}`);
let drop: () => Promise<void> = async () => {};
runsSuite(
  'mysql runs api',
  async () => {
    const db = await freshMysqlDatabase('runsapi');
    if ('skip' in db) return db;
    drop = db.drop;
    return db.url;
  },
  () => drop(),
);
