/**
 * API tokens end to end, as users run qgjob: a real `qgjob coordinator` configured through
 * QGJOB_TOKENS / QGJOB_AGENT_TOKEN, real `qgjob agent` processes (refused without or with a wrong
 * token; registered with the right one, running a spec on Appium's fake driver behind the
 * screen-recording stand-in), builds uploaded and downloaded with tokens, the CLI with QGJOB_TOKEN
 * and --token, and the signed video link opened like a browser would.
 */
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { JobList, JobView } from '../../shared/index.js';
import { type AppiumServer, startAppium } from '../helpers/appium.js';
import { startRecordingStandin, type RecordingStandin } from '../helpers/recording-standin.js';
import { type Proc, exampleProject, freePort, runQgjob, spawnQgjob, startAgentProc, startCoordinatorProc, tempDir } from '../helpers/processes.js';

const T = { acme: 'acme-e2e-token-1', beta: 'beta-e2e-token-2', admin: 'admin-e2e-token-3', agent: 'agent-e2e-token-4' };
const coordinatorEnv = {
  QGJOB_TOKENS: `acme=${T.acme},beta=${T.beta},*=${T.admin}`,
  QGJOB_AGENT_TOKEN: T.agent,
  QGJOB_HEARTBEAT_MS: '500',
  QGJOB_LEASE_MS: '3000',
  QGJOB_RETRY_BASE_MS: '100',
};
/** The environment of a person without any token (the test runner's own may not leak in). */
const noTokens = { QGJOB_TOKEN: '', QGJOB_AGENT_TOKEN: '', QGJOB_TOKENS: '' };

let appium: AppiumServer;
let recorder: RecordingStandin;
const procs: Proc[] = [];

test.before(async () => {
  appium = await startAppium();
  recorder = await startRecordingStandin(appium.url);
});
test.after.each(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
});
test.after(async () => {
  await recorder.stop();
  await appium.stop();
});

/** `qgjob agent` with one fake-driver slot, expected to be refused: its exit status and output. */
async function refusedAgent(url: string, env: Record<string, string>, extraArgs: string[] = []) {
  const p = spawnQgjob(['agent', '--url', url, '--project', exampleProject, '--app', join(exampleProject, 'app', 'fake-app.xml'), '--target', 'emulator', '--appium-url', appium.url, '--capabilities', '{"platformName":"Fake","appium:automationName":"Fake"}', '--work-dir', tempDir('refused'), ...extraArgs], env);
  procs.push(p);
  const killer = setTimeout(() => void p.stop(), 30_000);
  const { code } = await p.exited;
  clearTimeout(killer);
  return { code, stderr: p.stderr, stdout: p.stdout };
}

test('a coordinator with a bad QGJOB_TOKENS refuses to start: exit 2, one line naming the problem, never the token', async () => {
  const r = await runQgjob(['coordinator', '--port', '0', '--data-dir', tempDir('badtokens')], { ...noTokens, QGJOB_TOKENS: 'acme=s3cr3t' });
  assert.is(r.code, 2);
  assert.is(r.stderr.trim(), 'qgjob: QGJOB_TOKENS: the token of entry 1 (acme) must be at least 8 characters');
  const flag = await runQgjob(['coordinator', '--port', '0', '--data-dir', tempDir('flagtoken'), '--token', T.admin], noTokens);
  assert.is(flag.code, 2);
  assert.match(flag.stderr, /takes its tokens from the environment only/);
});

test('tokens end to end: refused agents exit 2; the right token registers, downloads, runs and uploads; CLI and video links respect orgs', async () => {
  const dataDir = tempDir('auth-e2e');
  const port = await freePort();
  const c = await startCoordinatorProc({ dataDir, port, env: { ...noTokens, ...coordinatorEnv } });
  procs.push(c.proc);
  const url = c.url;

  // Agents: no token, a wrong token, an org's token: refused in the handshake, exit 2 with the reason.
  const none = await refusedAgent(url, noTokens);
  assert.is(none.code, 2, none.stderr);
  assert.match(none.stderr, /qgjob: the coordinator at \S+ refused this agent: this coordinator requires an agent token: set QGJOB_AGENT_TOKEN/);
  const wrong = await refusedAgent(url, { ...noTokens, QGJOB_AGENT_TOKEN: 'not-the-agent-token' });
  assert.is(wrong.code, 2, wrong.stderr);
  assert.match(wrong.stderr, /refused this agent: the agent token is not valid/);
  const orgToken = await refusedAgent(url, noTokens, ['--token', T.acme]);
  assert.is(orgToken.code, 2, orgToken.stderr);
  assert.match(orgToken.stderr, /the agent token is not valid/);
  assert.match(c.proc.stderr, /refused an agent connection/);

  // The right agent token (from the environment): registers; it has no build of its own, so the
  // build comes from the registry (a download with the token) and the video goes up with it too.
  const agent = await startAgentProc({ url, appiumUrl: recorder.url, agentId: 'auth-agent', apps: {}, env: { ...noTokens, QGJOB_AGENT_TOKEN: T.agent } });
  procs.push(agent);

  // The CLI without a token: exit 2 and what to do.
  const anon = await runQgjob(['list', '--url', url], noTokens);
  assert.is(anon.code, 2);
  assert.is(anon.stderr.trim(), `qgjob: the coordinator at ${url} requires an API token: set QGJOB_TOKEN to your org's token (or pass --token)`);
  const bad = await runQgjob(['list', '--url', url], { ...noTokens, QGJOB_TOKEN: 'wrong-token-123' });
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /refused the API token .*check QGJOB_TOKEN/);

  const acmeEnv = { ...noTokens, QGJOB_TOKEN: T.acme };
  const upload = await runQgjob(['app', 'upload', '--url', url, '--app-version-id', 'auth-v1', '--platform', 'android', '--file', join(exampleProject, 'app', 'fake-app.xml'), '--json'], acmeEnv);
  assert.is(upload.code, 0, upload.stderr);

  const forbidden = await runQgjob(['submit', '--url', url, '--org-id', 'beta', '--app-version-id', 'auth-v1', '--test', 'tests/onboarding.spec.js', '--target', 'emulator'], acmeEnv);
  assert.is(forbidden.code, 2);
  assert.match(forbidden.stderr, /^qgjob: this token belongs to org "acme": it may not act for org "beta" \(use a token of that org, or the admin token, in QGJOB_TOKEN\)\n$/);

  const run = await runQgjob(['submit', '--url', url, '--org-id', 'acme', '--app-version-id', 'auth-v1', '--test', 'tests/onboarding.spec.js', '--target', 'emulator', '--build', 'registry', '--wait', '--json'], acmeEnv);
  assert.is(run.code, 0, `${run.stdout}\n${run.stderr}\nagent:\n${agent.stderr}`);
  const job = JSON.parse(run.stdout) as JobView;
  assert.is(job.status, 'passed');
  assert.is(job.installed_build, true);
  assert.match(agent.stderr, /downloaded and verified/);
  assert.match(agent.stderr + run.stderr + run.stdout, /uploaded the screen recording/);

  // The stored video link is signed: it opens with no header; without or with a forged signature it is 404.
  const video = job.video?.url ?? '';
  assert.match(video, new RegExp(`^${url}/videos/${job.job_id}\\.png\\?sig=`));
  const opened = await fetch(video);
  assert.is(opened.status, 200);
  assert.is(opened.headers.get('content-type'), 'image/png');
  assert.is((await opened.arrayBuffer()).byteLength, recorder.recordings().at(-1)!.bytes);
  assert.is((await fetch(video.replace(/\?sig=.*/, ''))).status, 404);
  assert.is((await fetch(video.replace(/sig=.{4}/, 'sig=AAAA'))).status, 404);

  // Another org: the job does not exist for it, in status, watch and list; --token works like QGJOB_TOKEN.
  const betaEnv = { ...noTokens, QGJOB_TOKEN: T.beta };
  const peek = await runQgjob(['status', job.job_id, '--url', url], betaEnv);
  assert.is(peek.code, 2);
  assert.is(peek.stderr.trim(), `qgjob: no job with id ${job.job_id}`);
  const watch = await runQgjob(['watch', job.job_id, '--url', url], betaEnv);
  assert.is(watch.code, 2);
  assert.match(watch.stderr, /no job with id/);
  const betaList = await runQgjob(['list', '--url', url, '--json'], betaEnv);
  assert.is(betaList.code, 0, betaList.stderr);
  assert.equal((JSON.parse(betaList.stdout) as JobList).jobs, []);
  const mine = await runQgjob(['status', job.job_id, '--url', url, '--json', '--token', T.acme], betaEnv); // the flag wins
  assert.is(mine.code, 0, mine.stderr);
  assert.is((JSON.parse(mine.stdout) as JobView).status, 'passed');
  const adminList = await runQgjob(['list', '--url', url, '--json'], { ...noTokens, QGJOB_TOKEN: T.admin });
  assert.ok((JSON.parse(adminList.stdout) as JobList).jobs.some((j) => j.job_id === job.job_id));

  // The coordinator comes back with another agent token: the running agent is refused, says why and exits 2.
  await c.proc.stop();
  const again = await startCoordinatorProc({ dataDir, port, env: { ...noTokens, ...coordinatorEnv, QGJOB_AGENT_TOKEN: 'rotated-agent-token' } });
  procs.push(again.proc);
  await agent.waitFor(/refused this agent: the agent token is not valid .*; stopping/, 30_000);
  const { code } = await agent.exited;
  assert.is(code, 2);
});

test.run();
