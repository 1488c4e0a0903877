/**
 * `npm run bench:installs`: installs per job on a small real lab. A real Appium (fake driver)
 * serves 4 slots of one `qgjob agent`; 30 jobs over 3 builds (different bytes) are submitted at
 * once, interleaved; every job runs the example passing spec. Prints how each slot's installs were
 * decided (from the jobs' own `assigned` events) and the installs per job, as a table and JSON.
 */
import { copyFileSync, appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QgClient, watchJob } from '../cli/client.js';
import { FINAL_STATES, type JobView } from '../shared/index.js';
import { startAppium } from '../tests/helpers/appium.js';
import { exampleProject, spawnQgjob, startCoordinatorProc, tempDir, waitForJob } from '../tests/helpers/processes.js';

const SLOTS = 4;
const BUILDS = ['b1', 'b2', 'b3'];
const PER_BUILD = 10;

const appium = await startAppium();
const c = await startCoordinatorProc({ dataDir: tempDir('bench-installs') });
const dir = tempDir('bench-builds');
const apps: Record<string, string> = {};
for (const b of BUILDS) {
  apps[b] = join(dir, `${b}.xml`);
  copyFileSync(join(exampleProject, 'app', 'fake-app.xml'), apps[b]!);
  appendFileSync(apps[b]!, `\n<!-- build ${b} -->\n`);
}
const lab = join(dir, 'lab.json');
writeFileSync(
  lab,
  JSON.stringify({
    url: c.url,
    agent_id: 'bench-lab',
    project: exampleProject,
    apps,
    slots: Array.from({ length: SLOTS }, (_, i) => ({
      id: `s${i + 1}`,
      target: 'emulator',
      platform: 'android',
      device_name: `Fake ${i + 1}`,
      appium_url: appium.url,
      capabilities: { platformName: 'Fake', 'appium:automationName': 'Fake' },
    })),
  }),
);
const agent = spawnQgjob(['agent', '--config', lab, '--work-dir', tempDir('bench-agent')]);
try {
  await agent.waitFor(/serving 4 slots/);
  const client = new QgClient({ url: c.url });
  const t0 = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < PER_BUILD; i++) {
    for (const b of BUILDS) ids.push((await client.submit({ org_id: 'bench', app_version_id: b, test_path: 'tests/onboarding.spec.js', target: 'emulator' })).job_id);
  }
  const jobs: JobView[] = [];
  for (const id of ids) jobs.push(await waitForJob(c.url, id, (j) => FINAL_STATES.has(j.status), 600_000));
  const wall = Date.now() - t0;
  const rows = [];
  for (const j of jobs) {
    const why: string[] = [];
    await watchJob(c.url, j.job_id, { onEvent: (e) => e.type === 'state' && e.to === 'assigned' && why.push(e.message ?? '') });
    rows.push({ job: j.job_id.slice(-6), build: j.app_version_id, slot: j.slot_id, started: j.started_at, install: j.installed_build, decision: why.at(-1)?.replace(/^attempt \d+ on \S+: /, '') ?? '' });
  }
  rows.sort((a, b) => String(a.started).localeCompare(String(b.started)));
  const installs = jobs.filter((j) => j.installed_build).length;
  const slots = (await client.agents())[0]!.slots.map((s) => ({ slot: s.slot_id, installs: s.installs, last_build: s.installed_app_version_id }));
  console.log(`${jobs.length} jobs over ${BUILDS.length} builds on ${SLOTS} slots: ${installs} installs (${(installs / jobs.length).toFixed(3)} per job), all ${jobs.every((j) => j.status === 'passed') ? 'passed' : 'NOT passed'}, ${(wall / 1000).toFixed(1)} s`);
  console.table(rows.map(({ started: _s, ...r }) => r));
  console.table(slots);
  console.log(JSON.stringify({ bench: 'installs-lab', jobs: jobs.length, builds: BUILDS.length, slots: SLOTS, installs, installs_per_job: installs / jobs.length, wall_ms: wall, per_slot: slots }));
} finally {
  await agent.stop();
  await c.proc.stop();
  await appium.stop();
}
