/**
 * The real `qgjob` bin's run commands against a stand-in coordinator (an HTTP server on
 * 127.0.0.1:0 that records each request and answers like the API): which request each flag set
 * makes (a run or, with one plain --test, a job as before), glob expansion against --test-root,
 * idempotency-key defaults, and exit 2 with one line for bad input, before any request.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { repoRoot, runQgjob } from '../helpers/processes.js';

interface Recorded {
  method: string;
  url: string;
  body: unknown;
}
const requests: Recorded[] = [];
let server: Server | undefined;
let url = '';

/** No GitHub or key variables from the machine running the tests. */
const cleanEnv = { GITHUB_ACTIONS: '', GITHUB_RUN_ID: '', QGJOB_IDEMPOTENCY_KEY: '', QGJOB_URL: '' };
const qgjob = (args: string[], env: NodeJS.ProcessEnv = {}) => runQgjob(args, { ...cleanEnv, ...env });

test.before(async () => {
  if (!existsSync(`${repoRoot}dist/cli/index.js`)) throw new Error('dist/ is missing: run `npm run build` before this suite');
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const body = raw ? JSON.parse(raw) : undefined;
      requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      const send = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.method === 'POST' && req.url === '/api/v1/jobs') return send(201, { job_id: 'job_1', status: 'queued' });
      if (req.method === 'POST' && (req.url === '/api/v1/runs' || /^\/api\/v1\/runs\/[^/]+\/rerun$/.test(req.url ?? ''))) {
        const tests = (body as { tests?: string[] } | undefined)?.tests ?? ['tests/b.spec.js'];
        return send(201, { run_id: 'run_1', created: true, jobs: tests.map((t, i) => ({ job_id: `job_${i + 1}`, test_path: t })) });
      }
      send(404, { error: { code: 'run_not_found', message: `no run for ${req.method} ${req.url}` } });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server!.close(() => resolve()));
  }
});

const base = () => ['submit', '--url', url, '--org-id', 'acme', '--app-version-id', 'xyz123', '--target', 'emulator'];
const last = () => requests[requests.length - 1]!;

test('several --test make one run: paths sorted, posix, without duplicates, with the job defaults', async () => {
  const r = await qgjob([...base(), '--test', 'tests/b.spec.js', '--test', './tests/a.spec.js', '--test', 'tests/b.spec.js', '--name', 'CI #1']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.split('\n')[0], 'run_1');
  assert.match(r.stdout, /job_1\s+tests\/a\.spec\.js\n\s+job_2\s+tests\/b\.spec\.js/);
  assert.equal(last(), {
    method: 'POST',
    url: '/api/v1/runs',
    body: {
      org_id: 'acme',
      app_version_id: 'xyz123',
      tests: ['tests/a.spec.js', 'tests/b.spec.js'],
      target: 'emulator',
      platform: 'android',
      priority: 5,
      max_attempts: 3,
      timeout_ms: 1_800_000,
      test_retries: 0,
      build: 'auto',
      name: 'CI #1',
    },
  });
});

test('a glob is expanded against --test-root; a single plain --test is still one job', async () => {
  const r = await qgjob([...base(), '--test', 'tests/*.spec.js', '--test-root', 'examples/appwright-project', '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.equal((last().body as { tests: string[] }).tests, ['tests/failing.spec.js', 'tests/long-running.spec.js', 'tests/onboarding.spec.js', 'tests/slow-logs.spec.js']);
  assert.is(JSON.parse(r.stdout).run_id, 'run_1');
  const one = await qgjob([...base(), '--test', 'tests/onboarding.spec.js'], { GITHUB_ACTIONS: 'true', GITHUB_RUN_ID: '812' });
  assert.is(one.code, 0, one.stderr);
  assert.is(one.stdout, 'job_1\n');
  assert.is(last().url, '/api/v1/jobs');
  const forced = await qgjob([...base(), '--test', 'tests/onboarding.spec.js', '--run']);
  assert.is(forced.code, 0, forced.stderr);
  assert.equal(last(), { method: 'POST', url: '/api/v1/runs', body: { ...(last().body as object), tests: ['tests/onboarding.spec.js'] } });
});

test('idempotency key: --idempotency-key, else QGJOB_IDEMPOTENCY_KEY, else from GitHub Actions', async () => {
  const key = async (args: string[], env: NodeJS.ProcessEnv) => {
    const r = await qgjob([...base(), '--test', 'a.js', '--test', 'b.js', ...args], env);
    assert.is(r.code, 0, r.stderr);
    return (last().body as { idempotency_key?: string }).idempotency_key;
  };
  const gh = { GITHUB_ACTIONS: 'true', GITHUB_REPOSITORY: 'acme/app', GITHUB_RUN_ID: '812', GITHUB_RUN_ATTEMPT: '2', GITHUB_JOB: 'e2e' };
  assert.is(await key([], {}), undefined);
  assert.is(await key([], gh), 'github:acme/app:812:2:e2e');
  assert.is(await key([], { ...gh, QGJOB_IDEMPOTENCY_KEY: 'from-env' }), 'from-env');
  assert.is(await key(['--idempotency-key', 'from-flag'], { ...gh, QGJOB_IDEMPOTENCY_KEY: 'from-env' }), 'from-flag');
});

test('bad run input exits 2 with a one-line reason and sends nothing', async () => {
  const before = requests.length;
  const nomatch = await qgjob([...base(), '--test', 'tests/nothing-*.spec.js', '--test-root', 'examples/appwright-project']);
  assert.is(nomatch.code, 2);
  assert.match(nomatch.stderr, /^qgjob: --test 'tests\/nothing-\*\.spec\.js' matched no files under \S+appwright-project\n$/);
  assert.is(nomatch.stdout, '');
  const noRoot = await qgjob([...base(), '--test', 'tests/*.spec.js', '--test-root', 'no/such/folder']);
  assert.is(noRoot.code, 2);
  assert.match(noRoot.stderr, /^qgjob: --test-root \S+no\/such\/folder is not a folder\n$/);
  const escape = await qgjob([...base(), '--test', 'a.js', '--test', '../b.js']);
  assert.is(escape.code, 2);
  assert.match(escape.stderr, /^qgjob: invalid value for --test\n {2}--test \(tests\.0\): test_path must not leave the test project/);
  const noTarget = await qgjob(['submit', '--url', url, '--org-id', 'a', '--app-version-id', 'v', '--test', 'a.js', '--test', 'b.js']);
  assert.is(noTarget.code, 2);
  assert.match(noTarget.stderr, /^qgjob: missing required option --target/);
  const both = await qgjob(['rerun', '--url', url, '--failed', '--all', 'run_1']);
  assert.is(both.code, 2);
  const noId = await qgjob(['rerun', '--url', url, '--failed']);
  assert.is(noId.code, 2);
  assert.match(noId.stderr, /missing the run id/);
  const badStatus = await qgjob(['runs', '--url', url, '--status', 'done']);
  assert.is(badStatus.code, 2);
  assert.is(requests.length, before);
});

test('rerun, cancel --run, status --run and runs make their requests', async () => {
  const failed = await qgjob(['rerun', '--url', url, '--failed', 'run_A']);
  assert.is(failed.code, 0, failed.stderr);
  assert.equal(last(), { method: 'POST', url: '/api/v1/runs/run_A/rerun', body: { only: 'failed' } });
  const all = await qgjob(['rerun', '--url', url, '--all', '--run', 'run_B', '--idempotency-key', 'k']);
  assert.is(all.code, 0, all.stderr);
  assert.equal(last(), { method: 'POST', url: '/api/v1/runs/run_B/rerun', body: { only: 'all', idempotency_key: 'k' } });
  const cancel = await qgjob(['cancel', '--url', url, '--run', 'run_C']);
  assert.is(cancel.code, 2); // the stand-in knows no run_C
  assert.equal({ method: last().method, url: last().url }, { method: 'POST', url: '/api/v1/runs/run_C/cancel' });
  assert.is(cancel.stderr, 'qgjob: no run for POST /api/v1/runs/run_C/cancel\n');
  const status = await qgjob(['status', '--url', url, '--run', 'run_D', '--json']);
  assert.is(status.code, 2);
  assert.is(last().url, '/api/v1/runs/run_D');
  await qgjob(['runs', '--url', url, '--org-id', '007', '--status', 'failed', '--limit', '5']);
  assert.is(last().url, '/api/v1/runs?org_id=007&status=failed&limit=5');
});

test('--help lists rerun and runs; submit --help shows the run flags with an example', async () => {
  const r = await qgjob(['--help']);
  for (const c of ['rerun', 'runs']) assert.match(r.stdout, new RegExp(`^\\s+${c}\\b`, 'm'));
  const s = await qgjob(['submit', '--help']);
  for (const f of ['--test-root <dir>', '--name <name>', '--idempotency-key <key>', '--run']) assert.ok(s.stdout.includes(f), f);
  assert.match(s.stdout, /\$ qgjob submit .*--test 'tests\/\*\*\/\*\.spec\.js'/);
  const rr = await qgjob(['rerun', '--help']);
  assert.match(rr.stdout, /\$ qgjob rerun --failed run_/);
});

test.run();
