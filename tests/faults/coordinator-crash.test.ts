/**
 * The coordinator killed with SIGKILL while 10 jobs run and 200 wait, then started again on the
 * same port and data: every job finishes, none is lost, none has two final results, and the ones
 * that were running either continue or run once more. Real specs, one agent with 10 slots on a
 * real Appium server.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QgClient } from '../../cli/client.js';
import { JobStore, parseDatabaseUrl } from '../../coordinator/store/index.js';
import { FINAL_STATES, type JobView } from '../../shared/index.js';
import { type AppiumServer, startAppium } from '../helpers/appium.js';
import { type Proc, exampleProject, freePort, spawnQgjob, startCoordinatorProc, tempDir } from '../helpers/processes.js';

const SLOTS = 10;
const QUEUED = Number(process.env.QGJOB_FAULT_QUEUED ?? 200);
let appium: AppiumServer;
const procs: Proc[] = [];

test.before(async () => {
  appium = await startAppium();
});
test.after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await appium.stop();
});

test(`coordinator SIGKILL with ${SLOTS} running and ${QUEUED} queued: all finish, none lost, none twice`, async () => {
  const dataDir = tempDir('crash');
  const port = await freePort();
  const env = { QGJOB_HEARTBEAT_MS: '1000', QGJOB_LEASE_MS: '10000', QGJOB_RETRY_BASE_MS: '200' };
  const first = await startCoordinatorProc({ dataDir, port, env });
  procs.push(first.proc);
  const url = first.url;
  const lab = join(tempDir('lab'), 'lab.json');
  writeFileSync(
    lab,
    JSON.stringify({
      url,
      name: 'crash-lab',
      agent_id: 'crash-lab',
      project: exampleProject,
      apps: { '*': join(exampleProject, 'app', 'fake-app.xml') },
      slots: Array.from({ length: SLOTS }, (_, i) => ({
        id: `fake-${i}`,
        target: 'emulator',
        platform: 'android',
        device_name: `Fake ${i}`,
        appium_url: appium.url,
        capabilities: { platformName: 'Fake', 'appium:automationName': 'Fake' },
      })),
    }),
  );
  const agent = spawnQgjob(['agent', '--config', lab, '--work-dir', tempDir('crash-agent')]);
  procs.push(agent);
  await agent.waitFor(/serving 10 slots/);

  const client = new QgClient({ url });
  const ids: string[] = [];
  const total = SLOTS + QUEUED;
  for (let i = 0; i < total; i++) {
    const r = await client.submit({ org_id: 'crash', app_version_id: `crash-v${i % 3}`, test_path: 'tests/onboarding.spec.js', target: 'emulator' });
    ids.push(r.job_id);
  }
  // Wait until every slot runs a job, then kill the coordinator.
  const deadline = Date.now() + 60_000;
  let runningBefore: string[] = [];
  while (Date.now() < deadline) {
    const page = await client.listJobs({ org_id: 'crash', status: 'running', limit: 200 } as never);
    runningBefore = page.jobs.map((j: JobView) => j.job_id);
    if (runningBefore.length >= SLOTS) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(runningBefore.length >= SLOTS, `${runningBefore.length} jobs running before the crash`);
  first.proc.child.kill('SIGKILL');
  await first.proc.exited;
  const second = await startCoordinatorProc({ dataDir, port, env });
  procs.push(second.proc);
  const restartedAt = Date.now();

  // Every job reaches a final state. Each poll lists the org's unfinished jobs (a few list requests,
  // not one GET per job); a job missing from those lists is read once by id and counts as done only
  // when its own view says it is final (a job that moved between the lists is just seen next poll).
  const doneAt = new Map<string, number>();
  const unfinished = async (): Promise<Set<string> | null> => {
    const open = new Set<string>();
    try {
      for (const status of ['queued', 'assigned', 'running'] as const) {
        let cursor: string | undefined;
        do {
          const page = await client.listJobs({ org_id: 'crash', status, limit: 200, ...(cursor ? { cursor } : {}) });
          for (const j of page.jobs) open.add(j.job_id);
          cursor = page.next_cursor ?? undefined;
        } while (cursor);
      }
    } catch {
      return null; // the coordinator is not answering yet: poll again
    }
    return open;
  };
  const end = Date.now() + 12 * 60_000;
  while (doneAt.size < total && Date.now() < end) {
    const open = await unfinished();
    if (open) {
      for (const id of ids) {
        if (doneAt.has(id) || open.has(id)) continue;
        const j = await client.getJob(id).catch(() => null);
        if (j && FINAL_STATES.has(j.status)) doneAt.set(id, Date.now());
      }
    }
    if (doneAt.size < total) await new Promise((r) => setTimeout(r, 250));
  }
  const store = await JobStore.open(parseDatabaseUrl(`sqlite:${join(dataDir, 'qgjob.sqlite')}`));
  try {
    const rows = await Promise.all(ids.map((id) => store.getJob(id)));
    const lost = rows.filter((r) => !r || !FINAL_STATES.has(r.status as JobView['status']));
    assert.is(lost.length, 0, `${lost.length} jobs not finished`);
    const notPassed = rows.filter((r) => r!.status !== 'passed').map((r) => `${r!.id}:${r!.status}:${r!.errorMessage}`);
    assert.equal(notPassed, [], 'every job passed');
    let duplicated = 0;
    for (const id of ids) {
      const finals = (await store.eventsAfter(id, 0)).filter((e) => e.kind === 'event' && e.row.type === 'state' && FINAL_STATES.has(JSON.parse(e.row.data).to));
      if (finals.length !== 1) duplicated++;
    }
    assert.is(duplicated, 0, 'no job has two final results');
    const rerun = rows.filter((r) => runningBefore.includes(r!.id) && r!.attempts > 1).length;
    assert.ok(rows.filter((r) => runningBefore.includes(r!.id)).every((r) => r!.attempts <= 2), 'running ones ran at most once more');
    const recoveries = runningBefore.map((id) => doneAt.get(id)! - restartedAt).sort((a, b) => a - b);
    const p95 = recoveries[Math.min(recoveries.length - 1, Math.ceil(0.95 * recoveries.length) - 1)];
    console.log(
      `FAULT coordinator-sigkill jobs=${total} lost=${lost.length} duplicated_final=${duplicated} running_at_crash=${runningBefore.length} rerun=${rerun} ` +
        `restart_to_running_jobs_done_p95_ms=${p95} restart_to_all_done_ms=${Math.max(...doneAt.values()) - restartedAt}`,
    );
  } finally {
    await store.close();
  }
});

test.run();
