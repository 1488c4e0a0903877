/**
 * The AppWright runner against a real Appium server with the fake driver: one agent-owned session
 * (one "install") serves several real Playwright runs of the example project's unchanged specs.
 * Runs are sequential on purpose: later tests read the app state earlier runs left behind.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { command, deleteSession, isSessionAlive, newSession, type NewSessionResult } from '../../agent/device/webdriver-client.js';
import { runAppwrightSpec, type RunSpecOptions, type SpecResult } from '../../agent/runner/appwright-runner.js';
import { fakeAppPath, fakeCapabilities, startAppium, type AppiumServer } from '../helpers/appium.js';

const projectDir = fileURLToPath(new URL('../../examples/appwright-project/', import.meta.url));

let appium: AppiumServer | undefined;
let session: NewSessionResult | undefined;
let tmpRoot = '';
let failingTestMs = 0; // how long "element not found" takes, to compare the dead-session case with

interface Line {
  stream: 'stdout' | 'stderr';
  text: string;
  /** Wall-clock arrival time (ms, sub-ms precision), comparable with Playwright's report times. */
  at: number;
}

async function run(
  testPath: string,
  extra: Partial<RunSpecOptions> = {},
): Promise<{ result: SpecResult; lines: Line[]; workDir: string; resolvedAt: number }> {
  if (!appium || !session) throw new Error('suite setup did not run');
  const lines: Line[] = [];
  const workDir = await mkdtemp(join(tmpRoot, 'attempt-'));
  const result = await runAppwrightSpec({
    projectDir,
    testPath,
    workDir,
    cacheDir: join(tmpRoot, 'pw-cache'),
    session: { endpoint: appium.url, sessionId: session.sessionId, capabilities: session.capabilities, platform: 'android' },
    onLine: (stream, text) => lines.push({ stream, text, at: performance.timeOrigin + performance.now() }),
    ...extra,
  });
  return { result, lines, workDir, resolvedAt: performance.timeOrigin + performance.now() };
}

const texts = (lines: Line[], re: RegExp) => lines.filter((l) => l.stream === 'stdout' && re.test(l.text)).map((l) => l.text);
const indexOf = (lines: Line[], text: string) => lines.findIndex((l) => l.text === text);

/** The element id of the first match, via the agent's own client. */
async function findByXpath(xpath: string): Promise<string> {
  const el = await command<Record<string, string>>(appium!.url, 'POST', `/session/${session!.sessionId}/element`, { using: 'xpath', value: xpath });
  return Object.values(el)[0]!;
}

test.before(async () => {
  tmpRoot = await mkdtemp(join(tmpdir(), 'qg-runner-test-'));
  appium = await startAppium();
  try {
    session = await newSession(appium.url, fakeCapabilities(fakeAppPath));
  } catch (err) {
    await appium.stop();
    appium = undefined;
    throw err;
  }
});

test.after(async () => {
  if (appium && session) await deleteSession(appium.url, session.sessionId).catch(() => {});
  await appium?.stop();
  if (tmpRoot) await rm(tmpRoot, { recursive: true, force: true });
});

test('a passing spec passes, and its console.log lines stream in order', async () => {
  const { result, lines } = await run('tests/onboarding.spec.js');
  assert.is(result.outcome, 'passed', result.errorMessage ?? '');
  assert.is(result.exitCode, 0);
  assert.is(result.errorMessage, null);
  assert.equal(result.testCases.map((t) => [t.title, t.full_title, t.status, t.error_message, t.retry]), [
    ['user can log in', 'user can log in', 'passed', null, 0],
  ]);
  assert.equal(texts(lines, /^(step \d|done:)/), [
    'step 1: typing user name',
    'step 2: tapping log in',
    'step 3: checking the welcome text',
    'done: logged in as alice',
  ]);
  // The reporter frames the spec's own output.
  assert.ok(indexOf(lines, '▶ user can log in') < indexOf(lines, 'step 1: typing user name'));
  assert.ok(lines.findIndex((l) => l.text.startsWith('✔ user can log in')) > indexOf(lines, 'done: logged in as alice'));
});

test('a failing spec is failed, with the assertion message', async () => {
  const { result, lines } = await run('tests/failing.spec.js');
  assert.is(result.outcome, 'failed', result.errorMessage ?? '');
  assert.is(result.exitCode, 1);
  assert.is(result.testCases.length, 1);
  const [tc] = result.testCases;
  assert.is(tc!.status, 'failed');
  assert.match(tc!.error_message ?? '', 'Element was not found on the screen');
  assert.not.match(tc!.error_message ?? '', /\u001b\[/); // ANSI codes stripped
  assert.match(result.errorMessage ?? '', 'shows the home screen after login: Error: Element was not found on the screen');
  assert.ok(texts(lines, /^looking for the home screen$/).length === 1);
  assert.ok(lines.some((l) => l.text.startsWith('✘ shows the home screen after login: Error: Element was not found')));
  failingTestMs = tc!.duration_ms;
});

test('log lines arrive while the test is still running', async () => {
  const { result, lines, workDir, resolvedAt } = await run('tests/slow-logs.spec.js');
  assert.is(result.outcome, 'passed', result.errorMessage ?? '');
  const progress = lines.filter((l) => /^progress /.test(l.text));
  assert.equal(
    progress.map((l) => l.text),
    ['progress 1/5', 'progress 2/5', 'progress 3/5', 'progress 4/5', 'progress 5/5', 'progress done'],
  );
  // Playwright's own record of when the test ended (start + duration, wall clock, in the worker).
  const report = JSON.parse(await readFile(join(workDir, 'report.json'), 'utf8'));
  const r = report.suites[0].specs[0].tests[0].results[0];
  const testEndedAt = Date.parse(r.startTime) + r.duration;
  // Buffered output would arrive after the test ended, all at once; live output arrives during it.
  assert.ok(progress[0]!.at < testEndedAt, `first line at ${progress[0]!.at}, test ended at ${testEndedAt}`);
  assert.ok(progress[0]!.at < progress[progress.length - 1]!.at);
  for (const l of lines) assert.ok(l.at <= resolvedAt);
});

test('one session (one install) served every run, and is still alive', async () => {
  assert.ok(await isSessionAlive(appium!.url, session!.sessionId));
  // The app state the runs left behind is there: the user name typed by onboarding.spec.js,
  // the login taps of onboarding + failing, the sign-up taps of slow-logs.
  const username = await findByXpath('//MockInputField[@id="username"]');
  assert.is(await command(appium!.url, 'GET', `/session/${session!.sessionId}/element/${username}/text`), 'alice');
  const login = await findByXpath('//MockButton[@id="login"]');
  assert.is(await command(appium!.url, 'GET', `/session/${session!.sessionId}/element/${login}/attribute/clicks`), '2');
  const signup = await findByXpath('//MockButton[@id="signup"]');
  assert.is(await command(appium!.url, 'GET', `/session/${session!.sessionId}/element/${signup}/attribute/clicks`), '5');
});

test('abort stops the run and reports an error', async () => {
  const ac = new AbortController();
  const { result } = await run('tests/onboarding.spec.js', {
    signal: ac.signal,
    killGraceMs: 2000,
    onLine: (_stream, text) => {
      if (text.startsWith('▶ ')) ac.abort();
    },
  });
  assert.is(result.outcome, 'error');
  assert.match(result.errorMessage ?? '', 'aborted');
  assert.ok(await isSessionAlive(appium!.url, session!.sessionId), 'aborting a run must not end the agent session');
});

test('a dead session is an error naming the session, not "element not found"', async () => {
  const dead = await newSession(appium!.url, fakeCapabilities(fakeAppPath));
  await deleteSession(appium!.url, dead.sessionId);
  const deadSession = { endpoint: appium!.url, sessionId: dead.sessionId, capabilities: dead.capabilities, platform: 'android' as const };

  // Caught before Playwright starts.
  const pre = await run('tests/onboarding.spec.js', { session: deadSession });
  assert.is(pre.result.outcome, 'error');
  assert.is(pre.result.exitCode, null);
  assert.match(pre.result.errorMessage ?? '', `qg: device session ${dead.sessionId}`);

  // Caught in the worker by the provider's health check, if the session dies after the pre-check.
  const inWorker = await run('tests/onboarding.spec.js', { session: deadSession, precheckSession: false });
  assert.is(inWorker.result.outcome, 'error');
  assert.match(inWorker.result.errorMessage ?? '', `qg: device session ${dead.sessionId}`);
  assert.match(inWorker.result.errorMessage ?? '', 'is not usable');
  assert.not.match(inWorker.result.errorMessage ?? '', 'Element was not found');
  const [tc] = inWorker.result.testCases;
  assert.ok(failingTestMs > 0, 'the failing-spec test runs first and records its duration');
  assert.ok(tc!.duration_ms < failingTestMs, `failed in ${tc!.duration_ms} ms; "element not found" took ${failingTestMs} ms`);
  assert.ok(await isSessionAlive(appium!.url, session!.sessionId), 'the agent session is untouched');
});

test.run();
