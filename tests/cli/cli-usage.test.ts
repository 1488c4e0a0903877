/**
 * The real `qgjob` bin (node bin/qgjob.js, compiled by `npm run build`) as a child process: flag
 * parsing, exit statuses and where output goes. A tiny HTTP server on 127.0.0.1:0 stands in for the
 * coordinator: it records what the CLI sent and answers like the API would.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { jobViewFixture } from '../helpers/fixtures.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = `${repoRoot}bin/qgjob.js`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the bin with `args`, no QGJOB_URL and no colour; kills it after 15 s. */
async function qgjob(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const baseEnv = { ...process.env };
  delete baseEnv.QGJOB_URL;
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: repoRoot,
    env: { ...baseEnv, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(killer);
  return { code, stdout, stderr };
}

interface Recorded {
  method: string;
  url: string;
  body: unknown;
}
const requests: Recorded[] = [];
let server: Server | undefined;
let url = '';

const jobView = (id: string) =>
  jobViewFixture({ job_id: id, org_id: '007', app_version_id: 'xyz123', waiting_reason: 'no connected slot serves emulator/android' });

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
      if (req.method === 'POST' && req.url === '/api/v1/jobs') {
        if ((body as { org_id?: string }).org_id === 'rejected-org') {
          return send(400, {
            error: { code: 'validation_failed', message: 'invalid job spec', fields: { org_id: 'org rejected-org may not submit jobs' } },
          });
        }
        return send(201, { job_id: 'job_1', status: 'queued' });
      }
      const m = /^\/api\/v1\/jobs\/([^/?]+)$/.exec(req.url ?? '');
      if (req.method === 'GET' && m && m[1] === 'no-such-job') {
        return send(404, { error: { code: 'job_not_found', message: 'no job with id no-such-job' } });
      }
      if (req.method === 'GET' && m) return send(200, jobView(decodeURIComponent(m[1])));
      send(404, { error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } });
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

const submitArgs = (over: Record<string, string> = {}) => {
  const flags: Record<string, string> = {
    'org-id': 'acme',
    'app-version-id': 'xyz123',
    test: 'tests/onboarding.spec.js',
    target: 'emulator',
    url,
    ...over,
  };
  return ['submit', ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v])];
};

const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

test('an unknown flag exits 2 with a one-line reason and sends nothing', async () => {
  const before = requests.length;
  const r = await qgjob([...submitArgs(), '--bogus']);
  assert.is(r.code, 2);
  assert.is(r.stdout, '');
  assert.is(lines(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /^qgjob: .*--bogus/);
  assert.is(requests.length, before);
});

test('a missing --org-id exits 2 and names the option', async () => {
  const args = submitArgs();
  const i = args.indexOf('--org-id');
  args.splice(i, 2);
  const before = requests.length;
  const r = await qgjob(args);
  assert.is(r.code, 2);
  assert.match(r.stderr, /^qgjob: missing required option --org-id/);
  assert.is(r.stdout, '');
  assert.is(requests.length, before);
});

test('a bad --target exits 2 naming the field, validated with the shared schema before any request', async () => {
  const before = requests.length;
  const r = await qgjob(submitArgs({ target: 'phone' }));
  assert.is(r.code, 2);
  assert.match(r.stderr, /^qgjob: invalid value for --target/);
  assert.match(r.stderr, /--target \(target\): target must be one of emulator, device, browserstack/);
  assert.is(requests.length, before);
});

test('a bad --priority exits 2 with the schema message', async () => {
  const r = await qgjob(submitArgs({ priority: 'high' }));
  assert.is(r.code, 2);
  assert.match(r.stderr, /--priority \(priority\): priority must be an integer from 1 to 10/);
});

test('numeric-looking ids stay strings, exactly as typed', async () => {
  const before = requests.length;
  const r = await qgjob(submitArgs({ 'org-id': '007', 'app-version-id': '12345678901234567890' }));
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'job_1\n');
  assert.is(requests.length, before + 1);
  const sent = requests[requests.length - 1];
  assert.is(sent.method, 'POST');
  assert.is(sent.url, '/api/v1/jobs');
  assert.equal(sent.body, {
    org_id: '007',
    app_version_id: '12345678901234567890',
    test_path: 'tests/onboarding.spec.js',
    target: 'emulator',
    platform: 'android',
    priority: 5,
    max_attempts: 3,
    timeout_ms: 1_800_000,
    test_retries: 0,
    build: 'auto',
  });
});

test('--org-id=007 (with =) and --priority 10 are read exactly too', async () => {
  const args = submitArgs();
  const i = args.indexOf('--org-id');
  args.splice(i, 2, '--org-id=007');
  const r = await qgjob([...args, '--priority', '10', '--platform', 'ios']);
  assert.is(r.code, 0, r.stderr);
  const body = requests[requests.length - 1].body as Record<string, unknown>;
  assert.is(body.org_id, '007');
  assert.is(body.priority, 10);
  assert.is(body.platform, 'ios');
});

test('--json prints exactly one JSON document, shaped like the API reply', async () => {
  const r = await qgjob([...submitArgs(), '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), { job_id: 'job_1', status: 'queued' });
  assert.ok(r.stdout.endsWith('}\n'));
});

test('a positional job id that looks numeric is kept as typed (status --json 00123)', async () => {
  const r = await qgjob(['status', '--json', '00123', '--url', url]);
  assert.is(r.code, 0, r.stderr);
  assert.is(requests[requests.length - 1].url, '/api/v1/jobs/00123');
  assert.is(JSON.parse(r.stdout).job_id, '00123');
  const r2 = await qgjob(['status', '--job-id', '0042', '--url', url]);
  assert.is(r2.code, 0, r2.stderr);
  assert.is(requests[requests.length - 1].url, '/api/v1/jobs/0042');
  assert.match(r2.stdout, /waiting\s+no connected slot serves emulator\/android/);
});

test('QGJOB_URL is used when --url is absent', async () => {
  const args = submitArgs();
  args.splice(args.indexOf('--url'), 2);
  const before = requests.length;
  const r = await qgjob(args, { QGJOB_URL: url });
  assert.is(r.code, 0, r.stderr);
  assert.is(requests.length, before + 1);
});

test('an unreachable coordinator exits 3 with "cannot reach"', async () => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const r = await qgjob(submitArgs({ url: `http://127.0.0.1:${closedPort}` }));
  assert.is(r.code, 3);
  assert.is(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^qgjob: cannot reach the coordinator at http://127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`));
});

test('a 400 from the coordinator exits 2 and prints its field errors', async () => {
  const r = await qgjob(submitArgs({ 'org-id': 'rejected-org' }));
  assert.is(r.code, 2);
  assert.is(r.stdout, '');
  const err = lines(r.stderr);
  assert.is(err[0], 'qgjob: invalid job spec');
  assert.is(err[1], '  --org-id (org_id): org rejected-org may not submit jobs');
});

test('job_not_found exits 2; so does a missing job id', async () => {
  const r = await qgjob(['status', 'no-such-job', '--url', url]);
  assert.is(r.code, 2);
  assert.is(r.stderr, 'qgjob: no job with id no-such-job\n');
  const missing = await qgjob(['status', '--url', url]);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /missing the job id/);
});

test('an unknown command exits 2', async () => {
  const r = await qgjob(['frobnicate']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /^qgjob: unknown command "frobnicate"/);
});

test('--help lists the commands; each command has its own help with an example', async () => {
  const r = await qgjob(['--help']);
  assert.is(r.code, 0);
  for (const c of ['submit', 'status', 'watch', 'cancel', 'list', 'agents', 'coordinator', 'agent']) {
    assert.match(r.stdout, new RegExp(`^\\s+${c}\\b`, 'm'), `--help should list ${c}`);
  }
  const s = await qgjob(['submit', '--help']);
  assert.is(s.code, 0);
  assert.match(s.stdout, /--org-id <id>/);
  assert.match(s.stdout, /--priority <n>.*default: 5/);
  assert.match(s.stdout, /Examples:\n\s+\$ qgjob submit --org-id/);
});

test('--version prints the package version', async () => {
  const r = await qgjob(['--version']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /^qgjob\/\d+\.\d+\.\d+/);
});

test.run();
