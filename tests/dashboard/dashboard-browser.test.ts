/**
 * The dashboard in a real headless Chromium (Debian's, driven by playwright-core) against real
 * `qgjob coordinator` and `qgjob agent` processes and a real Appium server with its fake driver:
 * the page loads, a submitted job shows in its queue, runs with its log lines in the tail, passes
 * with a video link in recent results, and the slot shows the build it installed. With org tokens,
 * a page without a token asks for one, and an org's page never shows another org's job.
 * A full-page screenshot is kept as `tests/artifacts/dashboard.png`.
 *
 * Skipped (with the reason printed) when Chromium is not installed; CI installs it.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { JobView } from '../../shared/index.js';
import { type AppiumServer, startAppium } from '../helpers/appium.js';
import { type Proc, repoRoot, startAgentProc, startCoordinatorProc, waitForJob } from '../helpers/processes.js';
import { type RecordingStandin, startRecordingStandin } from '../helpers/recording-standin.js';

const CHROMIUM = process.env.QGJOB_CHROMIUM ?? '/usr/bin/chromium';
const enabled = existsSync(CHROMIUM);
if (!enabled) console.log(`  (dashboard browser test: skipped: no Chromium at ${CHROMIUM}; apt-get install chromium, or set QGJOB_CHROMIUM)`);
/**
 * On a failure: what the coordinator and the agents said last and where every job is, so a failure
 * that depends on timing can be read from the CI log.
 */
const withDiagnostics =
  (fn: () => Promise<void>) =>
  async (): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      for (const p of procs) console.log(`--- ${p.child.spawnargs.slice(2, 4).join(' ')} (last lines) ---\n${(p.stdout + p.stderr).split('\n').slice(-40).join('\n')}`);
      const url = (procs[0] ? procs[0].stdout + procs[0].stderr : '').match(/listening on (http:\/\/[^\s]+)/)?.[1];
      if (url) console.log(`--- jobs ---\n${await fetch(`${url}/api/v1/jobs?limit=50`, { headers: { authorization: `Bearer ${TOKENS.admin}` } }).then((r) => r.text(), (e: Error) => e.message)}`);
      throw err;
    }
  };
const t = enabled ? (name: string, fn: () => Promise<void>) => test(name, withDiagnostics(fn)) : test.skip;

const ARTIFACTS = join(repoRoot, 'tests', 'artifacts');
const fast = { QGJOB_HEARTBEAT_MS: '500', QGJOB_LEASE_MS: '5000', QGJOB_RETRY_BASE_MS: '100' };
const TOKENS = { acme: 'acme-browser-token', globex: 'globex-browser-token', admin: 'admin-browser-token' };

let appium: AppiumServer;
let recorder: RecordingStandin;
let browser: Browser;
const procs: Proc[] = [];

test.before(async () => {
  if (!enabled) return;
  appium = await startAppium();
  // Appium's fake driver cannot record the screen: the stand-in answers the recording commands with
  // the session's real final screenshot, so results get a real uploaded "video" to link to.
  recorder = await startRecordingStandin(appium.url);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // playwright-core starts every launch with a new, empty profile in a temp folder.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
test.after.each(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
});
test.after(async () => {
  await browser?.close();
  await recorder?.stop();
  await appium?.stop();
});

async function submit(url: string, body: { org_id: string; app_version_id: string; test_path: string }, token?: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ target: 'emulator', platform: 'android', ...body }),
  });
  assert.is(res.status, 201, await res.clone().text());
  return ((await res.json()) as { job_id: string }).job_id;
}

/** A new page (own context: own localStorage) that records script errors and failed requests. */
async function openPage(): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
  return { page, problems };
}

t('the page shows a job queued, running with its log, and passed with its video; slots and builds render', async () => {
  const c = await startCoordinatorProc({ env: fast });
  procs.push(c.proc);
  const { page, problems } = await openPage();
  const res = await page.goto(`${c.url}/`);
  assert.is(res?.status(), 200);
  assert.match(res!.headers()['content-security-policy'] ?? '', /script-src 'self'/);
  await page.locator('#connection[data-connection="live"]').waitFor();
  await page.locator('#viewer', { hasText: 'all orgs' }).waitFor();
  await page.locator('#agents-body tr.empty').waitFor();

  // No agent yet: the job waits in its queue.
  const jobId = await submit(c.url, { org_id: 'qualgent', app_version_id: 'v1', test_path: 'tests/slow-logs.spec.js' });
  const queueRow = page.locator('#queues-body tr[data-app-version-id="v1"]');
  await queueRow.waitFor();
  assert.is(await queueRow.getAttribute('data-depth'), '1');
  assert.match((await queueRow.textContent()) ?? '', /qualgent/);

  // An agent connects: its slot shows, the job runs on it and its log lines reach the tail.
  const agent = await startAgentProc({ url: c.url, appiumUrl: recorder.url, agentId: 'lab-host-a' });
  procs.push(agent);
  const slotRow = page.locator('tr.slot-row[data-agent-id="lab-host-a"][data-slot-id="fake-1"]');
  await slotRow.waitFor();
  assert.match((await slotRow.textContent()) ?? '', /emulator\/android/);
  const card = page.locator(`article.job-card[data-job-id="${jobId}"]`);
  await card.waitFor();
  await page.locator(`pre[data-log="${jobId}"] .line`, { hasText: 'progress 2/5' }).waitFor({ timeout: 60_000 });
  assert.match((await card.textContent()) ?? '', /tests\/slow-logs\.spec\.js/);
  assert.is(await card.getAttribute('data-status'), 'running');
  await page.locator(`tr.slot-row[data-slot-id="fake-1"][data-state="busy"][data-job-id="${jobId}"]`).waitFor();

  // It passes: a result row with a working video link; the card goes; the slot shows the build.
  const result = page.locator(`#recent-body tr.result-row[data-job-id="${jobId}"]`);
  await result.waitFor({ timeout: 90_000 });
  assert.is(await result.getAttribute('data-status'), 'passed');
  await card.waitFor({ state: 'detached' });
  const job = await waitForJob(c.url, jobId, (j: JobView) => j.status === 'passed');
  const link = page.locator(`a[data-video="${jobId}"]`);
  assert.is(await link.getAttribute('href'), job.video?.url);
  const video = await fetch(job.video!.url);
  assert.is(video.status, 200);
  await page.locator('tr.slot-row[data-slot-id="fake-1"][data-state="idle"] td.build', { hasText: 'v1' }).waitFor();
  await page.locator('#queues-body tr[data-app-version-id="v1"]').waitFor({ state: 'detached' });

  // A busier picture for the screenshot: a second agent, a failing spec, and more jobs than slots.
  const agentB = await startAgentProc({ url: c.url, appiumUrl: recorder.url, agentId: 'lab-host-b', slotId: 'fake-2' });
  procs.push(agentB);
  const failing = await submit(c.url, { org_id: 'qualgent', app_version_id: 'v2', test_path: 'tests/failing.spec.js' });
  await page.locator(`#recent-body tr[data-job-id="${failing}"][data-status="failed"]`).waitFor({ timeout: 90_000 });
  const slow = await submit(c.url, { org_id: 'qualgent', app_version_id: 'v2', test_path: 'tests/slow-logs.spec.js' });
  const other = await submit(c.url, { org_id: 'acme', app_version_id: 'acme-1.4.0', test_path: 'tests/slow-logs.spec.js' });
  await submit(c.url, { org_id: 'acme', app_version_id: 'acme-1.4.0', test_path: 'tests/onboarding.spec.js' });
  await submit(c.url, { org_id: 'qualgent', app_version_id: 'v2', test_path: 'tests/onboarding.spec.js' });
  await page.locator(`pre[data-log="${slow}"] .line`, { hasText: 'progress 3/5' }).waitFor({ timeout: 90_000 });
  await page.locator(`pre[data-log="${other}"] .line`, { hasText: 'progress 1/5' }).waitFor({ timeout: 90_000 });
  await page.locator('#queues-body tr[data-depth="1"]').first().waitFor();
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  console.log(`  (dashboard screenshot: ${join('tests', 'artifacts', 'dashboard.png')})`);

  assert.equal(problems, [], 'no script errors, no failed requests');
});

t('with org tokens: a page without a token asks for one; an org page shows only its org', async () => {
  const c = await startCoordinatorProc({ env: { ...fast, QGJOB_TOKENS: `acme=${TOKENS.acme},globex=${TOKENS.globex},*=${TOKENS.admin}` } });
  procs.push(c.proc);
  const acmeJob = await submit(c.url, { org_id: 'acme', app_version_id: 'acme-v1', test_path: 'tests/onboarding.spec.js' }, TOKENS.admin);
  const globexJob = await submit(c.url, { org_id: 'globex', app_version_id: 'globex-v1', test_path: 'tests/onboarding.spec.js' }, TOKENS.admin);

  const { page, problems } = await openPage();
  await page.goto(`${c.url}/dashboard`);
  await page.locator('#connection[data-connection="unauthorized"]').waitFor();
  await page.locator('#token-prompt').waitFor({ state: 'visible' });
  assert.match((await page.locator('#token-message').textContent()) ?? '', /requires an API token/);
  assert.is(await page.locator('#queues-body tr[data-app-version-id]').count(), 0);

  // A wrong token is refused; acme's token shows acme's queue and nothing of globex.
  await page.fill('#token-input', 'wrong-token-123');
  await page.click('#token-form button[type="submit"]');
  await page.locator('#token-message', { hasText: 'not accepted' }).waitFor();
  await page.fill('#token-input', TOKENS.acme);
  await page.click('#token-form button[type="submit"]');
  await page.locator('#connection[data-connection="live"]').waitFor();
  assert.ok(await page.locator('#token-prompt').isHidden());
  await page.locator('#viewer', { hasText: 'org acme' }).waitFor();
  await page.locator('#queues-body tr[data-app-version-id="acme-v1"][data-depth="1"]').waitFor();
  assert.is(await page.locator('#queues-body tr[data-app-version-id="globex-v1"]').count(), 0);
  let html = await page.content();
  assert.not.match(html, 'globex');
  assert.not.match(html, globexJob);

  // The token is remembered across a reload, and "Forget token" asks again.
  await page.reload();
  await page.locator('#connection[data-connection="live"]').waitFor();
  await page.locator('#queues-body tr[data-app-version-id="acme-v1"]').waitFor();
  await page.click('#forget-token');
  await page.locator('#token-prompt').waitFor({ state: 'visible' });
  assert.is(await page.evaluate(() => localStorage.getItem('qgjob.dashboard.token')), null);

  // The admin token sees both orgs.
  await page.fill('#token-input', TOKENS.admin);
  await page.click('#token-form button[type="submit"]');
  await page.locator('#queues-body tr[data-app-version-id="globex-v1"]').waitFor();
  await page.locator('#queues-body tr[data-app-version-id="acme-v1"]').waitFor();
  html = await page.content();
  assert.match(html, 'all orgs');
  assert.ok(acmeJob && globexJob);

  assert.equal(problems, [], 'no script errors, no failed requests');
});

test.run();
