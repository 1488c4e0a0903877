/**
 * Targets for real, through real `qgjob coordinator` and `qgjob agent` processes:
 * - a device-lab slot (Appium 3, fake driver): installs decided by the build's bytes;
 * - a device that stops answering goes offline, and its job runs elsewhere;
 * - a BrowserStack slot against the BrowserStack STAND-IN (tests/helpers/browserstack-standin.ts:
 *   BrowserStack's REST and hub formats on 127.0.0.1, backed by a real Appium): one upload for
 *   many jobs, session status set, the video URL stored in video_results (SQLite and MySQL).
 * Each test prints a `TARGETS …` line with its figures.
 */
import { appendFileSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QgClient } from '../../cli/client.js';
import { JobStore, parseDatabaseUrl } from '../../coordinator/store/index.js';
import { FINAL_STATES, type JobView } from '../../shared/index.js';
import { type AppiumServer, startAppium } from '../helpers/appium.js';
import { type BrowserStackStandin, startBrowserStackStandin } from '../helpers/browserstack-standin.js';
import { startRecordingStandin } from '../helpers/recording-standin.js';
import { type Proc, exampleProject, freshMysqlDatabase, runQgjob, spawnQgjob, startAgentProc, startCoordinatorProc, tempDir, waitForJob } from '../helpers/processes.js';

let appium: AppiumServer;
const procs: Proc[] = [];
const fast = { QGJOB_HEARTBEAT_MS: '500', QGJOB_LEASE_MS: '3000', QGJOB_RETRY_BASE_MS: '100' };
const app = (f: string) => join(exampleProject, 'app', f);

async function runJob(client: QgClient, url: string, version: string, testPath = 'tests/onboarding.spec.js', target = 'emulator'): Promise<JobView> {
  const { job_id } = await client.submit({ org_id: 'targets', app_version_id: version, test_path: testPath, target: target as 'emulator' });
  return waitForJob(url, job_id, (j) => FINAL_STATES.has(j.status), 90_000);
}

test.before(async () => {
  appium = await startAppium();
});
test.after.each(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
});
test.after(() => appium.stop());

test('lab: N jobs of one build cause 1 install; a new build and a rebuilt binary under the same version reinstall', async () => {
  const c = await startCoordinatorProc({ env: fast });
  procs.push(c.proc);
  const builds = tempDir('builds');
  const a = join(builds, 'app-a.xml');
  copyFileSync(app('fake-app.xml'), a);
  const agent = await startAgentProc({ url: c.url, appiumUrl: appium.url, apps: { A: a, B: app('fake-app-v2.xml') } });
  procs.push(agent);
  const client = new QgClient({ url: c.url });
  const decisions: string[] = [];
  const run = async (version: string) => {
    const j = await runJob(client, c.url, version);
    assert.is(j.status, 'passed', JSON.stringify(j.error));
    decisions.push(`${version}:${j.installed_build ? 'install' : 'reuse'}`);
    return j;
  };
  for (let i = 0; i < 4; i++) await run('A');
  await run('B');
  await run('B');
  // The same version string, rebuilt: different bytes.
  appendFileSync(a, '\n<!-- rebuilt -->\n');
  await run('A');
  await run('A');
  assert.equal(decisions, ['A:install', 'A:reuse', 'A:reuse', 'A:reuse', 'B:install', 'B:reuse', 'A:install', 'A:reuse']);
  const slot = (await client.agents())[0]!.slots[0]!;
  assert.is(slot.installs, 3);
  console.log(`TARGETS lab-installs jobs=${decisions.length} installs=3 installs_per_job=${(3 / decisions.length).toFixed(3)} sequence=${decisions.join(',')}`);
});

test('registry builds: uploaded once with the CLI, downloaded once by the agent, installed by hash; unknown builds refused', async () => {
  const dataDir = tempDir('registry');
  const c = await startCoordinatorProc({ env: fast, dataDir });
  procs.push(c.proc);
  const work = tempDir('registry-agent');
  // The agent has no build files of its own: everything comes from the registry.
  const agent = await startAgentProc({ url: c.url, appiumUrl: appium.url, apps: {}, workDir: work });
  procs.push(agent);
  const up = await runQgjob(['app', 'upload', '--url', c.url, '--app-version-id', 'reg-v1', '--platform', 'android', '--file', app('fake-app.xml'), '--json']);
  assert.is(up.code, 0, up.stderr);
  const client = new QgClient({ url: c.url });
  const submitRegistry = async () => {
    const { job_id } = await client.submit({ org_id: 'targets', app_version_id: 'reg-v1', test_path: 'tests/onboarding.spec.js', target: 'emulator', build: 'registry' } as never);
    return waitForJob(c.url, job_id, (j) => FINAL_STATES.has(j.status), 90_000);
  };
  const jobs = [await submitRegistry(), await submitRegistry(), await submitRegistry()];
  assert.equal(jobs.map((j) => j.status), ['passed', 'passed', 'passed']);
  assert.equal(jobs.map((j) => j.installed_build), [true, false, false]);
  assert.match(agent.stderr, /download/i);
  const unknown = await runQgjob(['submit', '--url', c.url, '--org-id', 'targets', '--app-version-id', 'never-uploaded', '--test', 'tests/onboarding.spec.js', '--target', 'emulator', '--build', 'registry']);
  assert.is(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /app upload/);
  console.log(`TARGETS registry jobs=${jobs.length} installs=1`);
});

test('lab: a device that stops answering goes offline and its job runs on another slot', async () => {
  const c = await startCoordinatorProc({ env: fast });
  procs.push(c.proc);
  const doomed = await startAppium();
  const first = await startAgentProc({ url: c.url, appiumUrl: doomed.url, agentId: 'lab-doomed', slotId: 'doomed' });
  procs.push(first);
  await doomed.stop();
  const client = new QgClient({ url: c.url });
  const { job_id } = await client.submit({ org_id: 'targets', app_version_id: 'A', test_path: 'tests/onboarding.spec.js', target: 'emulator' });
  const offline = await (async () => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const slot = (await client.agents()).find((x) => x.agent_id === 'lab-doomed')?.slots[0];
      if (slot?.state === 'offline') return slot;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the slot never went offline');
  })();
  assert.match(offline.health_reason ?? '', /does not answer/);
  const second = await startAgentProc({ url: c.url, appiumUrl: appium.url, agentId: 'lab-healthy', slotId: 'healthy' });
  procs.push(second);
  const done = await waitForJob(c.url, job_id, (j) => FINAL_STATES.has(j.status), 60_000);
  assert.is(done.status, 'passed');
  assert.is(done.agent_id, 'lab-healthy');
  console.log(`TARGETS device-offline job_attempts=${done.attempts} ran_on=${done.agent_id} offline_reason="${offline.health_reason}"`);
});

test('lab: a driver that records the screen (a named stand-in): the video is uploaded, served at a stable URL and stored', async () => {
  const recorder = await startRecordingStandin(appium.url);
  try {
    const dataDir = tempDir('rec');
    const c = await startCoordinatorProc({ env: fast, dataDir });
    procs.push(c.proc);
    const agent = await startAgentProc({ url: c.url, appiumUrl: recorder.url, agentId: 'lab-recorder' });
    procs.push(agent);
    const client = new QgClient({ url: c.url });
    const job = await runJob(client, c.url, 'rec-v1');
    assert.is(job.status, 'passed');
    assert.ok(job.video?.url.startsWith(`${c.url}/videos/${job.job_id}.`), JSON.stringify(job.video));
    const res = await fetch(job.video!.url);
    assert.is(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.is(res.headers.get('content-type'), 'image/png');
    assert.is(bytes.length, recorder.recordings()[0]!.bytes);
    assert.match(job.video_note ?? '', /recorded as image\/png/);
    const store = await JobStore.open(parseDatabaseUrl(`sqlite:${join(dataDir, 'qgjob.sqlite')}`));
    try {
      assert.is((await store.getVideo(job.job_id))?.videoUrl, job.video!.url);
    } finally {
      await store.close();
    }
    console.log(`TARGETS lab-recording video=${job.video!.url} bytes=${bytes.length}`);
  } finally {
    await recorder.stop();
  }
});

async function browserstackRun(name: string, database?: string) {
  const standin: BrowserStackStandin = await startBrowserStackStandin({ appiumUrl: appium.url, username: 'qg-user', accessKey: 'qg-secret-key-0123456789', videoReadyAfterPolls: 1 });
  try {
    const dataDir = tempDir('bs');
    const c = await startCoordinatorProc({ env: fast, dataDir, ...(database ? { database } : {}) });
    procs.push(c.proc);
    const lab = join(tempDir('bs-lab'), 'lab.json');
    writeFileSync(
      lab,
      JSON.stringify({
        project: exampleProject,
        apps: { '*': app('fake-app.xml') },
        slots: [0, 1].map((i) => ({
          id: `bs-${i}`,
          target: 'browserstack',
          platform: 'android',
          device_name: 'Google Pixel 8',
          browserstack: { os_version: '14.0', api_base: standin.apiUrl, hub_url: standin.hubUrl, video: { attempts: 10, first_delay_ms: 100, max_delay_ms: 500 } },
        })),
      }),
    );
    const agent = spawnQgjob(['agent', '--url', c.url, '--config', lab, '--work-dir', tempDir('bs-agent'), '--agent-id', 'bs-agent'], {
      BROWSERSTACK_USERNAME: 'qg-user',
      BROWSERSTACK_ACCESS_KEY: 'qg-secret-key-0123456789',
    });
    procs.push(agent);
    await agent.waitFor(/serving 2 slots/);
    const client = new QgClient({ url: c.url });
    const jobs = await Promise.all([
      runJob(client, c.url, 'bs-v1', 'tests/onboarding.spec.js', 'browserstack'),
      runJob(client, c.url, 'bs-v1', 'tests/onboarding.spec.js', 'browserstack'),
      runJob(client, c.url, 'bs-v1', 'tests/failing.spec.js', 'browserstack'),
    ]);
    assert.equal(jobs.map((j) => j.status).sort(), ['failed', 'passed', 'passed']);
    assert.is(standin.uploads().length, 1, 'the build is uploaded once for all jobs');
    const sessions = standin.sessions();
    assert.is(sessions.length, 3);
    assert.equal(sessions.map((s) => s.status).sort(), ['failed', 'passed', 'passed'], 'each session is marked with its result');
    for (const j of jobs) {
      assert.ok(j.video?.url.startsWith(`${standin.url}/videos/`), `video URL for ${j.job_id}: ${JSON.stringify(j.video)} ${j.video_note}`);
    }
    assert.not.ok(agent.stdout.includes('qg-secret-key') || agent.stderr.includes('qg-secret-key'), 'the access key is never logged');
    const store = await JobStore.open(parseDatabaseUrl(database ?? `sqlite:${join(dataDir, 'qgjob.sqlite')}`));
    try {
      for (const j of jobs) {
        const v = await store.getVideo(j.job_id);
        assert.is(v?.videoUrl, j.video!.url);
        assert.is(v?.platform, 'android');
      }
    } finally {
      await store.close();
    }
    console.log(`TARGETS browserstack-${name} jobs=${jobs.length} uploads=${standin.uploads().length} sessions=${sessions.length} videos_stored=${jobs.length}`);
  } finally {
    await standin.stop();
  }
}

test('BrowserStack (stand-in), SQLite: one upload for many jobs, status set, video URLs in video_results', () => browserstackRun('sqlite'));

const mysql = process.env.QGJOB_TEST_MYSQL_URL;
if (!mysql) console.log('  (BrowserStack on MySQL: skipped: QGJOB_TEST_MYSQL_URL is not set)');
(mysql ? test : test.skip)('BrowserStack (stand-in), MySQL: the same, with video_results in MySQL', async () => {
  const db = await freshMysqlDatabase('bs');
  if ('skip' in db) throw new Error(db.skip);
  try {
    await browserstackRun('mysql', db.url);
  } finally {
    await db.drop();
  }
});

test.run();
