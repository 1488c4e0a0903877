/**
 * Runs one AppWright spec from a user's test project, unchanged, on a device session the agent
 * already holds, and turns Playwright's JSON report into qgjob test-case results.
 *
 * Route (checked end to end against Appium 3 + the fake driver, appwright 0.1.1, @playwright/test 1.59.1):
 * - A wrapper config is generated in the attempt's `workDir`, never in the user's project. It
 *   loads `qg-provider.cjs` FIRST, then the user's `appwright.config.*` by absolute path. Playwright
 *   re-loads the config in every worker, so the patch reaches the workers without NODE_OPTIONS.
 * - Verified: a wrapper outside the project CAN import a `.ts` user config by absolute path,
 *   because Playwright installs its TypeScript transform (require hook + ESM loader) before it
 *   loads any config. But the wrapper must match the user config's module kind: for an ESM
 *   project ("type": "module", or .mts/.mjs) it is `qg.config.mjs` with `import`; otherwise
 *   `qg.config.cjs` with `require`. An `.mjs` wrapper importing a CommonJS-typed `.ts` config
 *   fails with "Cannot use import statement outside a module".
 * - Order matters: if the user config loads first, appwright's providers are already loaded and
 *   the lazy `Module._load` hook never fires; qg-provider.cjs then patches the cached module.
 * - The wrapper keeps one project (named like the session's platform, else the one whose
 *   `use.platform` matches, else the first), forces one worker and no retries, drops appwright's
 *   globalSetup (it would check for an Android SDK and an .apk), makes testDir absolute against
 *   the project, and sends output + reports into `workDir`.
 * - Playwright's own `cli.js` is spawned directly: `npx appwright test` re-splits argv on spaces
 *   and hides every failure behind "Error while running playwright test: undefined".
 * - The spec is selected by an anchored, escaped regex of its absolute path, because Playwright
 *   reads CLI file arguments as case-insensitive regexes matched anywhere in the path.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { TestCaseResult, TestCaseStatus } from '../../shared/index.js';
import { isSessionAlive } from '../device/webdriver-client.js';

const PROVIDER_PRELOAD = fileURLToPath(new URL('./qg-provider.cjs', import.meta.url));
const LINE_REPORTER = fileURLToPath(new URL('./line-reporter.cjs', import.meta.url));

/** Config file names looked up in the project root, in this order. */
export const USER_CONFIG_NAMES = [
  'appwright.config.ts',
  'appwright.config.mts',
  'appwright.config.cts',
  'appwright.config.js',
  'appwright.config.mjs',
  'appwright.config.cjs',
] as const;

/** Marker the provider puts in front of "the device session is dead" errors (see qg-provider.cjs). */
export const SESSION_UNUSABLE_MARKER = 'qg: device session ';

export interface DeviceSession {
  /** Base URL of the device's WebDriver server, e.g. `http://127.0.0.1:4723` (may include a path). */
  endpoint: string;
  sessionId: string;
  /** Capabilities the server returned for the session. */
  capabilities: Record<string, unknown>;
  platform: 'android' | 'ios';
}

export interface RunSpecOptions {
  /** Absolute path of the user's test project (has node_modules/@playwright/test and appwright). */
  projectDir: string;
  /** Spec path relative to projectDir, e.g. `tests/onboarding.spec.js`. */
  testPath: string;
  /** An agent-owned session; the spec's `device` attaches to it and never creates or deletes one. */
  session: DeviceSession;
  /** A fresh folder for this attempt: wrapper config, JSON report and Playwright's outputDir go here. */
  workDir: string;
  /** Persistent Playwright transform cache shared across runs (PWTEST_CACHE_DIR). Default: Playwright's (OS temp). */
  cacheDir?: string;
  /** Called for every output line as it happens, without the trailing newline and without ANSI colour codes. */
  onLine: (stream: 'stdout' | 'stderr', text: string) => void;
  /** Abort → SIGTERM to Playwright's process group, SIGKILL after killGraceMs. */
  signal?: AbortSignal;
  /** Grace between SIGTERM and SIGKILL on abort (ms). Default 5000. */
  killGraceMs?: number;
  /** Extra environment for the spec. QG_* and NODE_OPTIONS cannot be set this way. */
  env?: Record<string, string>;
  /** Playwright retries of a failing test inside this run (`--retries`). Default 0. */
  retries?: number;
  /**
   * Check the session with one WebDriver round trip before starting Playwright (default true), so a
   * dead session costs milliseconds instead of a Playwright start. The provider checks again in
   * the worker either way.
   */
  precheckSession?: boolean;
}

export interface SpecResult {
  /** failed = a test ran and failed; error = could not run (no report, config error, no tests, session unusable, aborted). */
  outcome: 'passed' | 'failed' | 'error';
  testCases: TestCaseResult[];
  /** Wall time of the whole run (ms), Playwright start-up included. */
  durationMs: number;
  /** Why it failed or errored, for people; null when it passed. */
  errorMessage: string | null;
  /** Playwright's exit code; null when it was not started or was killed by a signal. */
  exitCode: number | null;
}

// The parts of Playwright's JSON report that are read here.
interface JsonError {
  message?: string;
  value?: string;
}
interface JsonResult {
  status?: string;
  duration?: number;
  retry?: number;
  error?: JsonError;
  errors?: JsonError[];
}
interface JsonSuite {
  title: string;
  specs?: Array<{ title: string; tests?: Array<{ results?: JsonResult[] }> }>;
  suites?: JsonSuite[];
}
interface JsonReport {
  suites?: JsonSuite[];
  errors?: JsonError[];
  stats?: { expected?: number; unexpected?: number; flaky?: number; skipped?: number };
}

const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;
const stripAnsi = (s: string): string => s.replace(ANSI, '');
const clip = (s: string, max: number): string => (s.length > max ? s.slice(0, max - 1) + '…' : s);
const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const STATUSES: readonly TestCaseStatus[] = ['passed', 'failed', 'skipped', 'timedOut', 'interrupted'];

function errorText(e: JsonError | undefined): string | null {
  const raw = e?.message ?? e?.value;
  return raw ? stripAnsi(raw).trim() : null;
}

/** Flattens the report: suites nest (file → describe → …), each spec holds one test per project. */
export function testCasesFromReport(report: JsonReport): TestCaseResult[] {
  const out: TestCaseResult[] = [];
  const walk = (suite: JsonSuite, describes: string[]): void => {
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests ?? []) {
        const last = t.results?.[t.results.length - 1];
        const status = STATUSES.find((s) => s === last?.status) ?? 'skipped';
        const message = last ? (errorText(last.error) ?? errorText(last.errors?.[0])) : null;
        out.push({
          title: clip(spec.title, 2000),
          full_title: clip([...describes, spec.title].join(' › '), 4000),
          status,
          duration_ms: Math.max(0, Math.round(last?.duration ?? 0)),
          error_message: message === null ? null : clip(message, 20000),
          retry: Math.max(0, last?.retry ?? 0),
        });
      }
    }
    for (const child of suite.suites ?? []) walk(child, [...describes, child.title]);
  };
  // Top-level suites are files; their title is the file path, not a describe block.
  for (const file of report.suites ?? []) walk(file, []);
  return out;
}

/** Whether Node (and Playwright) treat `file` as an ES module: by extension, else the nearest package.json "type". */
export function isModuleFile(file: string): boolean {
  if (/\.m[jt]s$/.test(file)) return true;
  if (/\.c[jt]s$/.test(file)) return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type === 'module';
      } catch {
        return false;
      }
    }
    if (dirname(dir) === dir) return false;
  }
}

/**
 * The wrapper config, in the user config's module format: Playwright compiles a `.ts` config as
 * ESM or CommonJS by the project's package "type", and an ESM wrapper importing a CommonJS-typed
 * `.ts` config fails ("Cannot use import statement outside a module"), so each kind gets its own.
 * The provider is loaded first, so its hook sees appwright load.
 */
function wrapperFor(userConfig: string | null, opts: { projectDir: string; workDir: string; platform: string; jsonReport: string }): { file: string; source: string } {
  const wrapOptions = JSON.stringify({ ...opts, lineReporter: LINE_REPORTER });
  const header = '// Generated by qgjob for one attempt. The user config is imported unchanged; see agent/runner/appwright-runner.ts.';
  if (userConfig && isModuleFile(userConfig)) {
    return {
      file: join(opts.workDir, 'qg.config.mjs'),
      source: [
        header,
        `import qg from ${JSON.stringify(pathToFileURL(PROVIDER_PRELOAD).href)};`,
        `import * as user from ${JSON.stringify(pathToFileURL(userConfig).href)};`,
        `export default qg.wrapConfig(user, ${wrapOptions});`,
        '',
      ].join('\n'),
    };
  }
  return {
    file: join(opts.workDir, 'qg.config.cjs'),
    source: [
      header,
      `const qg = require(${JSON.stringify(PROVIDER_PRELOAD)});`,
      `const user = ${userConfig ? `require(${JSON.stringify(userConfig)})` : '{}'};`,
      `module.exports = qg.wrapConfig(user, ${wrapOptions});`,
      '',
    ].join('\n'),
  };
}

/** Environment of the Playwright process: the agent's, minus what must not leak into a user's run. */
function childEnv(opts: RunSpecOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // NODE_OPTIONS would reach every Node child of the spec (tsx's loader in our tests, for one);
    // PLAYWRIGHT_*/PW_* knobs of the agent's own environment would change reporters or output paths.
    if (k === 'NODE_OPTIONS' || k.startsWith('QG_') || k.startsWith('PLAYWRIGHT_') || k.startsWith('PW_')) continue;
    env[k] = v;
  }
  env.WDIO_LOG_LEVEL = 'error'; // webdriver's INFO lines would land in the spec's stdout
  env.FORCE_COLOR = '0'; // plain lines for watchers and reports
  delete env.NO_COLOR; // with FORCE_COLOR set, Node warns that NO_COLOR is ignored
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (k !== 'NODE_OPTIONS' && !k.startsWith('QG_')) env[k] = v;
  }
  if (opts.cacheDir) env.PWTEST_CACHE_DIR = opts.cacheDir;
  env.QG_PROJECT_DIR = opts.projectDir;
  env.QG_APPIUM_URL = opts.session.endpoint;
  env.QG_SESSION_ID = opts.session.sessionId;
  env.QG_CAPS = JSON.stringify(opts.session.capabilities);
  env.QG_PLATFORM = opts.session.platform;
  env.QG_AGENT_PID = String(process.pid);
  return env;
}

/** Longest partial line kept before it is passed on anyway (chars): a spec writing without newlines must not grow memory. */
const MAX_LINE_CHARS = 64 * 1024;

/** Calls `emit` per complete line; keeps the partial tail until more data or the end. */
function lineSplitter(emit: (line: string) => void): { push(chunk: string): void; end(): void } {
  let buf = '';
  return {
    push(chunk) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        emit(buf.slice(0, nl).replace(/\r$/, ''));
        buf = buf.slice(nl + 1);
      }
      if (buf.length > MAX_LINE_CHARS) {
        emit(buf);
        buf = '';
      }
    },
    end() {
      if (buf) emit(buf.replace(/\r$/, ''));
      buf = '';
    },
  };
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Runs `testPath` with Playwright on the agent's session and reports what happened. It never
 * throws for a run that goes wrong: that is `outcome: 'error'` with a message.
 * @example
 * const r = await runAppwrightSpec({ projectDir, testPath: 'tests/login.spec.js', session, workDir,
 *   onLine: (stream, line) => streamer.push(stream, line) });
 * if (r.outcome === 'error') requeue(r.errorMessage);
 */
export async function runAppwrightSpec(opts: RunSpecOptions): Promise<SpecResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const fail = (errorMessage: string, exitCode: number | null = null, testCases: TestCaseResult[] = []): SpecResult => ({
    outcome: 'error',
    testCases,
    durationMs: elapsed(),
    errorMessage,
    exitCode,
  });

  const projectDir = resolve(opts.projectDir);
  const specFile = resolve(projectDir, opts.testPath);
  const rel = relative(projectDir, specFile);
  if (!isAbsolute(opts.projectDir)) return fail(`projectDir must be absolute: ${opts.projectDir}`);
  if (rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) return fail(`test path ${opts.testPath} is outside the test project`);
  if (!existsSync(specFile)) return fail(`test path ${opts.testPath} does not exist in the test project ${projectDir}`);
  const cli = join(projectDir, 'node_modules', '@playwright', 'test', 'cli.js');
  if (!existsSync(cli)) return fail(`the test project has no node_modules/@playwright/test (run npm install in ${projectDir})`);
  if (opts.signal?.aborted) return fail('aborted before start');

  if (opts.precheckSession !== false && !(await isSessionAlive(opts.session.endpoint, opts.session.sessionId))) {
    return fail(`${SESSION_UNUSABLE_MARKER}${opts.session.sessionId} on ${opts.session.endpoint} is not usable: it did not answer GET /session/:id/timeouts`);
  }

  const workDir = resolve(opts.workDir);
  await mkdir(workDir, { recursive: true });
  const jsonReport = join(workDir, 'report.json');
  const userConfig = USER_CONFIG_NAMES.map((n) => join(projectDir, n)).find((p) => existsSync(p)) ?? null;
  const wrapper = wrapperFor(userConfig, { projectDir, workDir, platform: opts.session.platform, jsonReport });
  await writeFile(wrapper.file, wrapper.source);

  const child = spawn(process.execPath, [cli, 'test', '-c', wrapper.file, `--retries=${opts.retries ?? 0}`, `^${escapeRegExp(specFile)}$`], {
    cwd: projectDir,
    env: childEnv(opts),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so workers (and anything a spec spawns) die with it
  });

  const tails: string[] = []; // last lines, for a message when there is no report
  const emit = (stream: 'stdout' | 'stderr') => (line: string) => {
    // Workers colour some output whatever FORCE_COLOR says (webdriver's logger): lines go out plain.
    const plain = stripAnsi(line);
    tails.push(plain);
    if (tails.length > 40) tails.shift();
    opts.onLine(stream, plain);
  };
  const out = lineSplitter(emit('stdout'));
  const err = lineSplitter(emit('stderr'));
  child.stdout.setEncoding('utf8').on('data', (d: string) => out.push(d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => err.push(d));

  let aborted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    aborted = true;
    killGroup(child.pid, 'SIGTERM');
    killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), opts.killGraceMs ?? 5000);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort(); // aborted during the pre-check or the spawn: no event will come

  const { code, signal, spawnError } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>(
    (done) => {
      child.once('error', (e) => done({ code: null, signal: null, spawnError: e }));
      // Leftovers in the group (a process the spec started) would hold the pipes open: end them at exit.
      child.once('exit', () => killGroup(child.pid, 'SIGKILL'));
      child.once('close', (c, s) => done({ code: c, signal: s }));
    },
  );
  opts.signal?.removeEventListener('abort', onAbort);
  if (killTimer) clearTimeout(killTimer);
  out.end();
  err.end();

  if (spawnError) return fail(`could not start Playwright: ${spawnError.message}`);

  let report: JsonReport | null = null;
  try {
    report = JSON.parse(await readFile(jsonReport, 'utf8')) as JsonReport;
  } catch {
    report = null;
  }
  const testCases = report ? testCasesFromReport(report) : [];
  const tail = () => tails.filter((l) => l.trim()).slice(-10).join('\n');

  if (aborted) return fail('aborted: Playwright was stopped', code, testCases);
  if (!report) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    return fail(`Playwright ${how} without a report${tails.length ? `:\n${tail()}` : ''}`, code);
  }

  const sessionDead = testCases.find((t) => t.error_message?.includes(SESSION_UNUSABLE_MARKER));
  if (sessionDead) return fail(sessionDead.error_message ?? 'device session is not usable', code, testCases);
  const interrupted = testCases.find((t) => t.status === 'interrupted');
  if (interrupted) return fail(`Playwright interrupted the run at ${interrupted.full_title}`, code, testCases);

  const failedCase = testCases.find((t) => t.status === 'failed' || t.status === 'timedOut');
  const globalErrors = (report.errors ?? [])
    .map((e) => errorText(e))
    .filter((m): m is string => !!m)
    // Playwright's hint about CLI regexes is about our argument, not the user's spec.
    .map((m) => (m.startsWith('Error: No tests found') ? `no tests found in ${opts.testPath}` : m));
  if (failedCase || (report.stats?.unexpected ?? 0) > 0) {
    const first = failedCase ?? testCases.find((t) => t.status !== 'passed' && t.status !== 'skipped');
    return {
      outcome: 'failed',
      testCases,
      durationMs: elapsed(),
      errorMessage: first ? `${first.full_title}: ${first.error_message ?? first.status}` : (globalErrors[0] ?? 'a test failed'),
      exitCode: code,
    };
  }
  if (globalErrors.length) return fail(globalErrors.join('\n'), code, testCases);
  // A spec whose tests are all skipped passed, as Playwright says (exit 0); a spec with no test at
  // all did not run anything, which is an error of the job (wrong path or pattern), not a pass.
  if (testCases.length === 0) return fail(`no tests found in ${opts.testPath}`, code, testCases);
  if (code !== 0) return fail(`Playwright exited with code ${code} although every test passed:\n${tail()}`, code, testCases);
  return { outcome: 'passed', testCases, durationMs: elapsed(), errorMessage: null, exitCode: code };
}
