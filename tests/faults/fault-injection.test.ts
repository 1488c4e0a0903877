/**
 * Faults injected into real processes: an agent killed mid-job, a network partition between an
 * agent and the coordinator, the database killed during submits, and cancellation and deadlines
 * stopping real runs. Each test prints one `FAULT …` line with its figures (jobs, lost,
 * duplicated final results, time from the fault to recovery).
 */
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QgClient, watchJob } from '../../cli/client.js';
import { FINAL_STATES, type JobEvent } from '../../shared/index.js';
import { type AppiumServer, startAppium } from '../helpers/appium.js';
import { privateMariadbUnavailable, startPrivateMariadb } from '../helpers/private-mariadb.js';
import { type Proc, pidsMatching, runQgjob, startAgentProc, startCoordinatorProc, tempDir, waitForJob } from '../helpers/processes.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

let appium: AppiumServer;
const procs: Proc[] = [];
const fast = { QGJOB_HEARTBEAT_MS: '500', QGJOB_LEASE_MS: '3000', QGJOB_RETRY_BASE_MS: '100', QGJOB_ASSIGN_ACK_TIMEOUT_MS: '3000' };

const submit = async (url: string, test: string, extra: string[] = []) => {
  const r = await runQgjob(['submit', '--url', url, '--org-id', 'faults', '--app-version-id', 'fault-v1', '--test', test, '--target', 'emulator', '--json', ...extra]);
  assert.is(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { job_id: string }).job_id;
};

/** Every event of the job, replayed from the start (the watch stream ends with the final result). */
async function events(url: string, jobId: string): Promise<JobEvent[]> {
  const all: JobEvent[] = [];
  await watchJob(url, jobId, { onEvent: (e) => all.push(e) });
  return all;
}
const finalResults = (evs: JobEvent[]) => evs.filter((e) => e.type === 'state' && FINAL_STATES.has(e.to)).length;
const logLines = (evs: JobEvent[]) => evs.flatMap((e) => (e.type === 'log' ? e.lines.filter((l) => l.stream === 'stdout').map((l) => l.text) : []));
const report = (name: string, figures: Record<string, number | string>) =>
  console.log(`FAULT ${name} ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(' ')}`);

test.before(async () => {
  appium = await startAppium();
});
test.after.each(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
});
test.after(() => appium.stop());

test('agent SIGKILL mid-job: the job runs again on another agent within the lease, with one final result', async () => {
  const c = await startCoordinatorProc({ env: fast });
  procs.push(c.proc);
  const work = { a: tempDir('agent-a'), b: tempDir('agent-b') };
  const a = await startAgentProc({ url: c.url, appiumUrl: appium.url, slotId: 'slot-a', agentId: 'fault-agent-a', workDir: work.a });
  procs.push(a);
  const id = await submit(c.url, 'tests/slow-logs.spec.js');
  await waitForJob(c.url, id, (j) => j.status === 'running');
  const b = await startAgentProc({ url: c.url, appiumUrl: appium.url, slotId: 'slot-b', agentId: 'fault-agent-b', workDir: work.b });
  procs.push(b);
  a.child.kill('SIGKILL');
  const killedAt = Date.now();
  const rerun = await waitForJob(c.url, id, (j) => j.agent_id === 'fault-agent-b' && (j.status === 'running' || j.status === 'passed'), 30_000);
  const recoveryMs = Date.now() - killedAt;
  const done = await waitForJob(c.url, id, (j) => FINAL_STATES.has(j.status), 60_000);
  assert.is(done.status, 'passed');
  assert.is(done.attempts, 2);
  assert.is(done.agent_id, 'fault-agent-b');
  assert.ok(rerun.attempts === 2);
  const evs = await events(c.url, id);
  assert.is(finalResults(evs), 1, 'exactly one final result');
  // The killed agent's Playwright run does not outlive it (the orphan guard ends its process group).
  const deadline = Date.now() + 5000;
  while (pidsMatching(work.a).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(pidsMatching(work.a), [], 'no process of the killed agent is left');
  report('agent-sigkill', { jobs: 1, lost: 0, duplicated_final: finalResults(evs) - 1, fault_to_rerun_ms: recoveryMs, lease_ms: fast.QGJOB_LEASE_MS });
});

test('a 10 s network cut between agent and coordinator: the log arrives whole and in order, the job runs once', async () => {
  const env = { QGJOB_HEARTBEAT_MS: '1000', QGJOB_LEASE_MS: '15000' };
  const c = await startCoordinatorProc({ env });
  procs.push(c.proc);
  const proxy = await startTcpProxy(Number(new URL(c.url).port));
  try {
    const agent = await startAgentProc({ url: proxy.url, appiumUrl: appium.url, agentId: 'fault-agent-cut' });
    procs.push(agent);
    const id = await submit(c.url, 'tests/slow-logs.spec.js');
    await waitForJob(c.url, id, (j) => j.status === 'running');
    await proxy.cut(10_000);
    const restoredAt = Date.now();
    const done = await waitForJob(c.url, id, (j) => FINAL_STATES.has(j.status), 60_000);
    const recoveryMs = Date.now() - restoredAt;
    assert.is(done.status, 'passed');
    assert.is(done.attempts, 1, 'not run twice');
    const evs = await events(c.url, id);
    assert.equal(
      logLines(evs).filter((l) => l.startsWith('progress')),
      ['progress 1/5', 'progress 2/5', 'progress 3/5', 'progress 4/5', 'progress 5/5', 'progress done'],
    );
    assert.equal(evs.map((e) => e.event_id), evs.map((_, i) => i + 1), 'no gap, no duplicate');
    assert.is(finalResults(evs), 1);
    report('network-cut-10s', { jobs: 1, lost: 0, duplicated_final: 0, attempts: done.attempts, restore_to_result_ms: recoveryMs });
  } finally {
    await proxy.close();
  }
});

const noMariadb = privateMariadbUnavailable();
if (noMariadb) console.log(`  (database-killed fault test: skipped: ${noMariadb})`);
(noMariadb ? test.skip : test)('the database killed during submits: every 201 is stored, the rest get 503, and it recovers by itself', async () => {
  const db = await startPrivateMariadb();
  try {
    const c = await startCoordinatorProc({ database: db.url });
    procs.push(c.proc);
    const client = new QgClient({ url: c.url });
    const accepted: string[] = [];
    const statuses = new Map<string, number>();
    let killedAt = 0;
    let restartedAt = 0;
    let firstAfterRestart = 0;
    const spec = { org_id: 'faults', app_version_id: 'db-v1', test_path: 'tests/onboarding.spec.js', target: 'emulator' as const };
    const outage = (async () => {
      while (accepted.length < 50) await new Promise((r) => setTimeout(r, 5));
      await db.kill();
      killedAt = Date.now();
      await new Promise((r) => setTimeout(r, 2000)); // the outage lasts 2 s
      await db.start();
      restartedAt = Date.now();
    })();
    for (let i = 0; i < 300 || !restartedAt || !firstAfterRestart; i++) {
      try {
        const r = await client.submit(spec);
        accepted.push(r.job_id);
        statuses.set('201', (statuses.get('201') ?? 0) + 1);
        if (restartedAt && !firstAfterRestart) firstAfterRestart = Date.now();
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'other';
        statuses.set(code, (statuses.get(code) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 10));
      }
      if (i > 5000) break;
    }
    await outage;
    assert.ok((statuses.get('store_unavailable') ?? 0) > 0, `some submits met the outage: ${JSON.stringify([...statuses])}`);
    assert.equal([...statuses.keys()].sort(), ['201', 'store_unavailable'], `only 201 or 503 store_unavailable; coordinator log:\n${c.proc.stderr.split('\n').filter((l) => /failed|unavailable/.test(l)).slice(0, 5).join('\n')}`);
    const { createConnection } = await import('mysql2/promise');
    const u = new URL(db.url);
    const conn = await createConnection({ host: u.hostname, port: Number(u.port), user: 'root', database: 'qgjob_fault' });
    const [rows] = await conn.query('select id from jobs');
    await conn.end();
    const stored = new Set((rows as Array<{ id: string }>).map((r) => r.id));
    const lost = accepted.filter((id) => !stored.has(id));
    assert.equal(lost, [], 'every 201 is in the database');
    report('database-killed', {
      submits: [...statuses.values()].reduce((a, b) => a + b, 0),
      accepted_201: accepted.length,
      refused_503: statuses.get('store_unavailable') ?? 0,
      lost: lost.length,
      outage_ms: restartedAt - killedAt,
      restart_to_first_201_ms: firstAfterRestart - restartedAt,
    });
  } finally {
    await db.stop();
  }
});

/** The device session the agent made for an attempt, read from the job's own log. */
const sessionOf = (evs: JobEvent[]): string | undefined =>
  evs
    .flatMap((e) => (e.type === 'log' ? e.lines.map((l) => l.text) : []))
    .map((t) => /\(session ([0-9a-f-]{8,})\)|reusing session ([0-9a-f-]{8,})/.exec(t))
    .filter(Boolean)
    .map((m) => m![1] ?? m![2])[0];

async function sessionAlive(sessionId: string): Promise<boolean> {
  const res = await fetch(`${appium.url}/session/${sessionId}/timeouts`);
  return res.ok;
}

const DEADLINE_MS = 10_000;

test('cancel and deadline stop the test process and end the device session', async () => {
  const c = await startCoordinatorProc({ env: fast });
  procs.push(c.proc);
  const work = tempDir('agent-cancel');
  const agent = await startAgentProc({ url: c.url, appiumUrl: appium.url, agentId: 'fault-agent-cancel', workDir: work });
  procs.push(agent);

  for (const mode of ['cancel', 'deadline'] as const) {
    // The deadline leaves the spec time to start on a loaded machine (Playwright alone takes seconds there).
    const id = await submit(c.url, 'tests/long-running.spec.js', mode === 'deadline' ? ['--timeout-ms', String(DEADLINE_MS)] : []);
    const running = await waitForJob(c.url, id, (j) => j.status === 'running');
    // Wait for the spec's own output, so Playwright and the device session are surely up.
    const seen: JobEvent[] = [];
    let over = false;
    const follow = watchJob(c.url, id, { onEvent: (e) => seen.push(e) }).finally(() => (over = true));
    while (!over && !logLines(seen).some((l) => l.startsWith('round'))) await new Promise((r) => setTimeout(r, 50));
    assert.ok(logLines(seen).some((l) => l.startsWith('round')), `the spec printed its first round before the job ended (${mode})`);
    const session = sessionOf(seen);
    assert.ok(session, 'the log names the device session');
    const attemptDir = join(work, 'attempts');
    assert.ok(pidsMatching(attemptDir).length > 0, 'Playwright is running');
    let faultAt = Date.now();
    if (mode === 'cancel') {
      const r = await runQgjob(['cancel', id, '--url', c.url]);
      assert.is(r.code, 0, r.stderr);
    } else {
      faultAt = Date.parse(running.started_at!) + DEADLINE_MS;
    }
    const ended = await follow;
    assert.is(ended.status, mode === 'cancel' ? 'cancelled' : 'timed_out');
    const deadline = Date.now() + 15_000;
    while ((pidsMatching(attemptDir).length || (await sessionAlive(session!))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(pidsMatching(attemptDir), [], 'the test process is gone');
    assert.not.ok(await sessionAlive(session!), 'the Appium session was ended');
    report(`${mode}-stops-run`, { jobs: 1, lost: 0, duplicated_final: finalResults(await events(c.url, id)) - 1, fault_to_stopped_ms: Date.now() - faultAt });
  }
});

test.run();
