/**
 * End-to-end scenarios shared by the SQLite and MySQL suites: real `qgjob coordinator` and
 * `qgjob agent` processes, a real Appium server with its fake driver as the device, the example
 * AppWright project, and the real CLI submitting and watching.
 */
import * as assert from 'uvu/assert';
import { QgClient } from '../../cli/client.js';
import type { JobView } from '../../shared/index.js';
import { join } from 'node:path';
import { type Proc, exampleProject, runQgjob, startAgentProc, startCoordinatorProc, tempDir } from '../helpers/processes.js';

export interface Env {
  appiumUrl: string;
  database?: string;
  procs: Proc[];
}

const submitArgs = (url: string, test: string, version = 'v1', org = 'qualgent') => [
  'submit', '--url', url, '--org-id', org, '--app-version-id', version, '--test', test, '--target', 'emulator', '--platform', 'android',
];

async function stack(env: Env, dataDir = tempDir('e2e')) {
  const c = await startCoordinatorProc({ dataDir, ...(env.database ? { database: env.database } : {}) });
  env.procs.push(c.proc);
  // Two builds: v2 is a different binary (its bytes differ), every other version is the first one.
  const app = (f: string) => join(exampleProject, 'app', f);
  const agent = await startAgentProc({ url: c.url, appiumUrl: env.appiumUrl, apps: { v2: app('fake-app-v2.xml'), '*': app('fake-app.xml') } });
  env.procs.push(agent);
  return { url: c.url, coordinator: c.proc, agent, dataDir, client: new QgClient({ url: c.url }) };
}

/** A passing spec, a failing spec, a watched spec and a new build: results, logs and installs. */
export async function runsSpecsAndGroupsInstalls(env: Env): Promise<void> {
  const { url, client } = await stack(env);

  const pass = await runQgjob([...submitArgs(url, 'tests/onboarding.spec.js'), '--wait']);
  assert.is(pass.code, 0, `exit 0 for a passing spec\n${pass.stdout}\n${pass.stderr}`);
  assert.match(pass.stdout, /step 1: typing user name[\s\S]*step 2: tapping log in[\s\S]*done: logged in as alice/);
  assert.match(pass.stdout, /passed/);

  const fail = await runQgjob([...submitArgs(url, 'tests/failing.spec.js'), '--wait', '--json']);
  assert.is(fail.code, 1, `exit 1 for a failing spec\n${fail.stderr}`);
  const failed = JSON.parse(fail.stdout) as JobView;
  assert.is(failed.status, 'failed');
  assert.match(failed.test_cases[0]!.error_message ?? '', /Element was not found on the screen/);
  assert.match(failed.error?.message ?? '', /Element was not found/);

  // Submit, then watch from the start: every log line in order, then the result and exit code.
  const sub = await runQgjob([...submitArgs(url, 'tests/slow-logs.spec.js'), '--json']);
  assert.is(sub.code, 0, sub.stderr);
  const { job_id: watchedId } = JSON.parse(sub.stdout) as { job_id: string };
  const watch = await runQgjob(['watch', watchedId, '--url', url]);
  assert.is(watch.code, 0, `${watch.stdout}\n${watch.stderr}`);
  const progress = watch.stdout.split('\n').filter((l) => /^progress /.test(l));
  assert.equal(progress, ['progress 1/5', 'progress 2/5', 'progress 3/5', 'progress 4/5', 'progress 5/5', 'progress done']);
  assert.match(watch.stdout, /passed/);

  // Three jobs of build v1 so far on one slot: one install. A new build: a second install.
  const v1Jobs = await client.listJobs({ app_version_id: 'v1' } as never);
  const installedFlags = v1Jobs.jobs.map((j) => j.installed_build).sort();
  assert.equal(installedFlags, [false, false, true], 'exactly one v1 job installed the build');
  const v2 = await runQgjob([...submitArgs(url, 'tests/onboarding.spec.js', 'v2'), '--wait', '--json']);
  assert.is(v2.code, 0, v2.stderr);
  assert.is((JSON.parse(v2.stdout) as JobView).installed_build, true);
  const agents = await client.agents();
  const slot = agents[0]!.slots[0]!;
  assert.is(slot.installs, 2);
  assert.is(slot.installed_app_version_id, 'v2');
}

/** Jobs accepted while no agent runs survive a SIGKILL of the coordinator and run after it restarts. */
export async function keepsQueuedJobsAcrossRestart(env: Env): Promise<void> {
  const dataDir = tempDir('restart');
  const first = await startCoordinatorProc({ dataDir, ...(env.database ? { database: env.database } : {}) });
  env.procs.push(first.proc);
  const ids: string[] = [];
  for (const test of ['tests/onboarding.spec.js', 'tests/onboarding.spec.js']) {
    const r = await runQgjob([...submitArgs(first.url, test, 'restart-v'), '--json']);
    assert.is(r.code, 0, r.stderr);
    ids.push((JSON.parse(r.stdout) as { job_id: string }).job_id);
  }
  first.proc.child.kill('SIGKILL');
  await first.proc.exited;

  const second = await startCoordinatorProc({ dataDir, ...(env.database ? { database: env.database } : {}) });
  env.procs.push(second.proc);
  const client = new QgClient({ url: second.url });
  for (const id of ids) assert.is((await client.getJob(id)).status, 'queued');
  const agent = await startAgentProc({ url: second.url, appiumUrl: env.appiumUrl, agentId: 'restart-agent' });
  env.procs.push(agent);
  for (const id of ids) {
    const r = await runQgjob(['status', id, '--watch', '--json', '--url', second.url]);
    assert.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.is((JSON.parse(r.stdout) as JobView).status, 'passed');
  }
}

export async function stopAll(env: Env): Promise<void> {
  await Promise.all(env.procs.splice(0).map((p) => p.stop()));
}
