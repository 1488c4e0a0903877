/**
 * API tokens at the wire: a real coordinator on 127.0.0.1:0 configured with two org tokens, an admin
 * token and an agent token; plain HTTP requests, Socket.IO clients on `/agents` and `/watch`, and
 * the CLI's own client. What one org may see of another's jobs, who may register agents and
 * upload videos, and how signed video links behave.
 */
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QgClient, watchJob } from '../../cli/client.js';
import { resolveCoordinatorOptions, startCoordinator, type Coordinator } from '../../coordinator/index.js';
import { QgError, type Ack, type AgentToCoordinator, type AgentView, type Assignment, type CoordinatorToAgent, type JobList, type JobView } from '../../shared/index.js';
import { tempDir } from '../helpers/processes.js';

const T = { acme: 'acme-token-0001', beta: 'beta-token-0002', admin: 'admin-token-0003', agent: 'agent-token-0004' };
const TOKENS = `acme=${T.acme},beta=${T.beta},*=${T.admin}`;

let coordinator: Coordinator;
const sockets: Socket[] = [];
const logLines: string[] = [];

test.before(async () => {
  const dir = tempDir('auth');
  coordinator = await startCoordinator({
    port: 0,
    databaseUrl: `sqlite:${join(dir, 'db.sqlite')}`,
    dataDir: dir,
    tokens: TOKENS,
    agentToken: T.agent,
    heartbeatIntervalMs: 200,
    log: (l) => logLines.push(l),
  });
});
test.after.each(() => {
  for (const s of sockets.splice(0)) s.close();
});
test.after(() => coordinator.close());

/** One HTTP request with an optional bearer token; the status, headers and parsed body. */
async function call(method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(coordinator.url + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined && !(body instanceof Uint8Array) ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: body instanceof Uint8Array ? (body as Uint8Array<ArrayBuffer>) : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json: json as Record<string, unknown> & { error?: { code: string; message: string } }, text };
}

const spec = (org: string, extra: Record<string, unknown> = {}) => ({ org_id: org, app_version_id: 'auth-v1', test_path: 'tests/a.spec.js', target: 'emulator', ...extra });

async function submitAs(token: string, org: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await call('POST', '/api/v1/jobs', token, spec(org, extra));
  assert.is(r.status, 201, r.text);
  return r.json.job_id as string;
}

/** A raw `/agents` connection with `auth.token`: connected, or the connect error's data. */
function agentSocket(token?: string): Promise<{ socket: Socket<CoordinatorToAgent, AgentToCoordinator>; refused: { code?: string; message?: string } | null }> {
  const s: Socket<CoordinatorToAgent, AgentToCoordinator> = io(`${coordinator.url}/agents`, {
    transports: ['websocket'],
    reconnection: false,
    ...(token ? { auth: { token } } : {}),
  });
  sockets.push(s);
  return new Promise((resolve) => {
    s.once('connect', () => resolve({ socket: s, refused: null }));
    s.once('connect_error', (err: Error & { data?: { code?: string; message?: string } }) => resolve({ socket: s, refused: err.data ?? { message: err.message } }));
  });
}

test('without a token or with an unknown one every /api/v1 request is 401 with a Bearer challenge; /healthz stays open', async () => {
  for (const [method, path] of [['GET', '/api/v1/jobs'], ['POST', '/api/v1/jobs'], ['GET', '/api/v1/agents'], ['GET', '/api/v1/apps/x'], ['GET', '/api/v1/no-such-route']] as const) {
    const none = await call(method, path, undefined, method === 'POST' ? spec('acme') : undefined);
    assert.is(none.status, 401, `${method} ${path} without a token`);
    assert.is(none.json.error?.code, 'unauthorized');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    const bad = await call(method, path, 'not-a-known-token');
    assert.is(bad.status, 401, `${method} ${path} with a bad token`);
    assert.is(bad.json.error?.message, 'the API token is not valid');
  }
  const malformed = await call('GET', '/api/v1/jobs', undefined, undefined, { authorization: `Basic ${T.acme}` });
  assert.is(malformed.status, 401);
  const health = await call('GET', '/healthz');
  assert.is(health.status, 200);
  assert.is(health.json.ok, true);
});

test('an org submits only for itself: another org_id is 403 forbidden, nothing is queued', async () => {
  const before = ((await call('GET', '/api/v1/jobs?limit=200', T.admin)).json as unknown as JobList).jobs.length;
  const r = await call('POST', '/api/v1/jobs', T.acme, spec('beta'));
  assert.is(r.status, 403);
  assert.is(r.json.error?.code, 'forbidden');
  assert.match(r.json.error!.message, /org "acme".*org "beta"/);
  const after = ((await call('GET', '/api/v1/jobs?limit=200', T.admin)).json as unknown as JobList).jobs.length;
  assert.is(after, before);
  // The admin submits for any org.
  const id = await submitAs(T.admin, 'beta');
  assert.is(((await call('GET', `/api/v1/jobs/${id}`, T.beta)).json as unknown as JobView).org_id, 'beta');
});

test("another org's job is not found (read, cancel, resubmit); lists show only the token's org; the admin sees both", async () => {
  const a = await submitAs(T.acme, 'acme');
  const b = await submitAs(T.beta, 'beta');

  const read = await call('GET', `/api/v1/jobs/${a}`, T.beta);
  assert.is(read.status, 404);
  assert.is(read.json.error?.code, 'job_not_found');
  // Same answer as an id that does not exist: existence does not leak.
  const missing = await call('GET', '/api/v1/jobs/job_00000000000000000000000000', T.beta);
  assert.is(missing.json.error?.message, 'no job with id job_00000000000000000000000000');
  assert.is(read.json.error?.message, `no job with id ${a}`);

  const cancel = await call('POST', `/api/v1/jobs/${a}/cancel`, T.beta);
  assert.is(cancel.status, 404);
  assert.is(cancel.json.error?.code, 'job_not_found');
  assert.is(((await call('GET', `/api/v1/jobs/${a}`, T.acme)).json as unknown as JobView).status, 'queued', 'the cancel did not happen');

  const resubmit = await call('POST', `/api/v1/jobs/${a}/resubmit`, T.beta);
  assert.is(resubmit.status, 404);

  const betaList = (await call('GET', '/api/v1/jobs?limit=200', T.beta)).json as unknown as JobList;
  assert.ok(betaList.jobs.length > 0);
  assert.ok(betaList.jobs.every((j) => j.org_id === 'beta'), 'only beta jobs');
  assert.ok(betaList.jobs.some((j) => j.job_id === b));
  const spy = await call('GET', '/api/v1/jobs?org_id=acme', T.beta);
  assert.is(spy.status, 403);
  assert.is(spy.json.error?.code, 'forbidden');
  const own = (await call('GET', '/api/v1/jobs?org_id=beta', T.beta)).json as unknown as JobList;
  assert.ok(own.jobs.every((j) => j.org_id === 'beta'));

  const all = (await call('GET', '/api/v1/jobs?limit=200', T.admin)).json as unknown as JobList;
  const ids = new Set(all.jobs.map((j) => j.job_id));
  assert.ok(ids.has(a) && ids.has(b), 'the admin sees both orgs');
  const adminFiltered = (await call('GET', '/api/v1/jobs?org_id=acme&limit=200', T.admin)).json as unknown as JobList;
  assert.ok(adminFiltered.jobs.every((j) => j.org_id === 'acme') && adminFiltered.jobs.some((j) => j.job_id === a));

  // The owner cancels its own job.
  const ownCancel = await call('POST', `/api/v1/jobs/${a}/cancel`, T.acme);
  assert.is(ownCancel.status, 200);
  assert.is((ownCancel.json as unknown as JobView).status, 'cancelled');
  assert.is((await call('POST', `/api/v1/jobs/${a}/resubmit`, T.beta)).status, 404);
  assert.is((await call('POST', `/api/v1/jobs/${a}/resubmit`, T.acme)).status, 201);
});

test('the CLI client sends its token; /watch refuses no token and hides other orgs\' jobs', async () => {
  const a = await submitAs(T.acme, 'acme');
  const acme = new QgClient({ url: coordinator.url, token: T.acme });
  assert.is((await acme.getJob(a)).org_id, 'acme');
  const anonymous = new QgClient({ url: coordinator.url });
  const refused = await anonymous.getJob(a).then(() => null, (e: unknown) => e);
  assert.instance(refused, QgError);
  assert.is((refused as QgError).code, 'unauthorized');
  assert.match((refused as QgError).message, /set QGJOB_TOKEN/);
  const forbidden = await new QgClient({ url: coordinator.url, token: T.beta }).submit(spec('acme') as never).then(() => null, (e: unknown) => e);
  assert.is((forbidden as QgError).code, 'forbidden');

  const noToken = await watchJob(coordinator.url, a, { connectTimeoutMs: 5000, signal: AbortSignal.timeout(10_000) }).then(() => null, (e: unknown) => e);
  assert.is((noToken as QgError).code, 'unauthorized');
  const badToken = await watchJob(coordinator.url, a, { token: 'wrong-token-123', connectTimeoutMs: 5000, signal: AbortSignal.timeout(10_000) }).then(() => null, (e: unknown) => e);
  assert.is((badToken as QgError).code, 'unauthorized');
  assert.match((badToken as QgError).message, /refused the API token/);
  const otherOrg = await watchJob(coordinator.url, a, { token: T.beta, connectTimeoutMs: 5000, signal: AbortSignal.timeout(10_000) }).then(() => null, (e: unknown) => e);
  assert.is((otherOrg as QgError).code, 'job_not_found');
  assert.is((otherOrg as QgError).message, `no job with id ${a}`);

  // The owner and the admin subscribe; cancelling ends the watch with the final job.
  for (const token of [T.acme, T.admin]) {
    const id = await submitAs(T.acme, 'acme');
    let subscribed!: () => void;
    const onSub = new Promise<void>((r) => (subscribed = r));
    const watching = watchJob(coordinator.url, id, { token, connectTimeoutMs: 5000, onSubscribed: () => subscribed() });
    await onSub;
    await acme.cancel(id);
    assert.is((await watching).status, 'cancelled');
  }
});

test("runs are scoped like jobs: submit only for the token's org; another org's run is not found (read, rerun, cancel, watch); lists show only the token's org", async () => {
  const run = (org: string) => ({ org_id: org, app_version_id: 'auth-v1', tests: ['tests/a.spec.js', 'tests/b.spec.js'], target: 'emulator' });
  const forbidden = await call('POST', '/api/v1/runs', T.acme, run('beta'));
  assert.is(forbidden.status, 403, forbidden.text);
  assert.is(forbidden.json.error?.code, 'forbidden');
  const created = await call('POST', '/api/v1/runs', T.beta, run('beta'));
  assert.is(created.status, 201, created.text);
  const runId = created.json.run_id as string;

  for (const [method, path] of [['GET', `/api/v1/runs/${runId}`], ['POST', `/api/v1/runs/${runId}/rerun`], ['POST', `/api/v1/runs/${runId}/cancel`]] as const) {
    const r = await call(method, path, T.acme, method === 'POST' ? {} : undefined);
    assert.is(r.status, 404, `${method} ${path}: ${r.text}`);
    assert.is(r.json.error?.code, 'run_not_found');
  }
  const acmeList = await call('GET', '/api/v1/runs', T.acme);
  assert.is(acmeList.status, 200, acmeList.text);
  assert.not.ok((acmeList.json.runs as { run_id: string }[]).some((r) => r.run_id === runId), "acme's list must not show beta's run");
  assert.is((await call('GET', '/api/v1/runs?org_id=beta', T.acme)).status, 403);
  const adminList = await call('GET', '/api/v1/runs', T.admin);
  assert.ok((adminList.json.runs as { run_id: string }[]).some((r) => r.run_id === runId), 'the admin sees every run');
  assert.is((await call('GET', `/api/v1/runs/${runId}`, T.beta)).status, 200);

  const acme = new QgClient({ url: coordinator.url, token: T.acme });
  const err = await acme.watchRun(runId, { connectTimeoutMs: 5000 }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(err, QgError);
  assert.is((err as QgError).code, 'run_not_found');
  const anonymous = await new QgClient({ url: coordinator.url }).watchRun(runId, { connectTimeoutMs: 5000 }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.is((anonymous as QgError).code, 'unauthorized');
  assert.is((await call('POST', `/api/v1/runs/${runId}/cancel`, T.beta)).status, 200);
});

test('/agents: no token, a wrong one or an org token are refused in the handshake; the agent token and the admin token register', async () => {
  for (const token of [undefined, 'wrong-token-123', T.acme]) {
    const r = await agentSocket(token);
    assert.ok(r.refused, `refused with ${token}`);
    assert.is(r.refused!.code, 'unauthorized');
    assert.match(r.refused!.message ?? '', token ? /agent token is not valid/ : /requires an agent token/);
  }
  assert.ok(logLines.some((l) => /refused an agent connection/.test(l)));
  for (const [id, token] of [['auth-agent', T.agent], ['auth-admin-agent', T.admin]] as const) {
    const r = await agentSocket(token);
    assert.is(r.refused, null);
    const reply = await r.socket.timeout(2000).emitWithAck('register', {
      agent_id: id,
      name: id,
      version: 'test',
      slots: [{ slot_id: 's1', target: 'browserstack', platform: 'ios', device_name: 'wire', endpoint: 'http://127.0.0.1:1', installed_app_version_id: null }],
      running: [],
    });
    assert.ok(reply.ok, JSON.stringify(reply));
  }
});

test("agents' endpoints: only agents upload videos; links are signed; a slot's job of another org is hidden", async () => {
  const r = await agentSocket(T.agent);
  const s = r.socket;
  let assigned!: (a: Assignment) => void;
  const assignment = new Promise<Assignment>((res) => (assigned = res));
  s.on('assign', (a, ack) => {
    ack({ ok: true });
    assigned(a);
  });
  const reg = await s.timeout(2000).emitWithAck('register', {
    agent_id: 'video-agent',
    name: 'video-agent',
    version: 'test',
    slots: [{ slot_id: 'v1', target: 'device', platform: 'android', device_name: 'wire', endpoint: 'http://127.0.0.1:1', installed_app_version_id: null }],
    running: [],
  });
  assert.ok(reg.ok);
  const jobId = await submitAs(T.acme, 'acme', { target: 'device' });
  const a = await assignment;
  assert.is(a.job_id, jobId);
  const started: Ack = await s.timeout(2000).emitWithAck('started', { job_id: jobId, attempt_id: a.attempt_id, install: null });
  assert.ok(started.ok);

  // The slot's job: its org and the admin see it, another org sees the slot without it.
  const slotOf = async (token: string) => ((await call('GET', '/api/v1/agents', token)).json.agents as AgentView[]).find((x) => x.agent_id === 'video-agent')!.slots[0]!;
  assert.is((await slotOf(T.acme)).job_id, jobId);
  assert.is((await slotOf(T.admin)).job_id, jobId);
  const hidden = await slotOf(T.beta);
  assert.is(hidden.job_id, null);
  assert.is(hidden.state, 'busy');
  assert.is((await call('GET', '/api/v1/agents', T.agent)).status, 403, 'the agent token is not a people token');

  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);
  const path = `/api/v1/jobs/${jobId}/video?attempt_id=${encodeURIComponent(a.attempt_id)}`;
  const noToken = await call('PUT', path, undefined, png, { 'content-type': 'image/png' });
  assert.is(noToken.status, 401);
  assert.match(noToken.headers.get('www-authenticate') ?? '', /^Bearer/);
  const orgToken = await call('PUT', path, T.acme, png, { 'content-type': 'image/png' });
  assert.is(orgToken.status, 403);
  assert.is(orgToken.json.error?.code, 'forbidden');
  const up = await call('PUT', path, T.agent, png, { 'content-type': 'image/png' });
  assert.is(up.status, 201, up.text);
  const url = up.json.url as string;
  assert.match(url, new RegExp(`/videos/${jobId}\\.png\\?sig=[A-Za-z0-9_-]{43}$`));

  // The signed link opens with no header at all, as from a browser.
  const signed = await fetch(url);
  assert.is(signed.status, 200);
  assert.equal(new Uint8Array(await signed.arrayBuffer()), png);
  const unsigned = url.replace(/\?sig=.*$/, '');
  assert.is((await fetch(unsigned)).status, 404);
  const forged = url.replace(/sig=(.)/, (_m, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`);
  assert.is((await fetch(forged)).status, 404);
  const otherJob = unsigned.replace(jobId, 'job_00000000000000000000000000') + url.slice(url.indexOf('?'));
  assert.is((await fetch(otherJob)).status, 404, "one job's signature does not open another's file");
  // A token of the job's org, or the admin's, opens it unsigned; another org's does not.
  assert.is((await fetch(unsigned, { headers: { authorization: `Bearer ${T.acme}` } })).status, 200);
  assert.is((await fetch(unsigned, { headers: { authorization: `Bearer ${T.admin}` } })).status, 200);
  assert.is((await fetch(unsigned, { headers: { authorization: `Bearer ${T.beta}` } })).status, 404);
  assert.is((await fetch(unsigned, { headers: { authorization: `Bearer ${T.agent}` } })).status, 404);
});

test('builds: any valid token uploads and reads; the agent token only downloads', async () => {
  const reg = { app_version_id: 'auth-build', platform: 'android', url: `${coordinator.url}/healthz`, file_name: 'app.apk' };
  assert.is((await call('POST', '/api/v1/apps', undefined, reg)).status, 401);
  assert.is((await call('POST', '/api/v1/apps', T.agent, reg)).status, 403);
  const form = new FormData();
  form.append('app_version_id', 'auth-build');
  form.append('platform', 'android');
  form.append('file', new Blob([new Uint8Array([1, 2, 3, 4, 5])]), 'app.apk');
  const res = await fetch(`${coordinator.url}/api/v1/apps`, { method: 'POST', headers: { authorization: `Bearer ${T.beta}` }, body: form });
  assert.is(res.status, 201, await res.clone().text());
  const build = (await res.json()) as { sha256: string; download_url: string };
  assert.is((await call('GET', '/api/v1/apps/auth-build', T.acme)).status, 200);
  assert.is((await call('GET', '/api/v1/apps/auth-build', T.agent)).status, 403);
  const dl = new URL(build.download_url).pathname + new URL(build.download_url).search;
  assert.is((await call('GET', dl)).status, 401);
  const got = await call('GET', dl, T.agent);
  assert.is(got.status, 200);
  assert.is(got.text.length, 5);
  assert.is((await call('GET', dl, T.acme)).status, 200);
});

test('configuration: QGJOB_TOKENS and QGJOB_AGENT_TOKEN from the environment; bad ones are refused with one reason', () => {
  const o = resolveCoordinatorOptions({}, { QGJOB_TOKENS: ` acme = ${T.acme} , *=${T.admin}`, QGJOB_AGENT_TOKEN: T.agent });
  assert.ok(o.tokens.enabled);
  assert.equal(o.tokens.resolve(T.acme), { org: 'acme' });
  assert.equal(o.tokens.resolve(T.admin), { org: '*' });
  assert.is(o.tokens.resolve(T.agent)?.agent, true);
  assert.is(o.tokens.resolve('nope-nope-nope'), null);
  // No tokens: open, everyone is the admin, exactly as before.
  const open = resolveCoordinatorOptions({}, {});
  assert.not.ok(open.tokens.enabled);
  assert.not.ok(open.tokens.agentsNeedToken);
  assert.equal(open.tokens.resolve(undefined), { org: '*' });
  // Only an agent token: the API stays open, agents need the token.
  const agentsOnly = resolveCoordinatorOptions({}, { QGJOB_AGENT_TOKEN: T.agent });
  assert.not.ok(agentsOnly.tokens.enabled);
  assert.ok(agentsOnly.tokens.agentsNeedToken);
  assert.throws(() => agentsOnly.tokens.requireAgent(undefined), /requires an agent token/);
  // Options win over the environment.
  assert.equal(resolveCoordinatorOptions({ tokens: `beta=${T.beta}` }, { QGJOB_TOKENS: `acme=${T.acme}` }).tokens.resolve(T.beta), { org: 'beta' });

  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ QGJOB_TOKENS: 'acme' }, /QGJOB_TOKENS: entry 1 must be org=token/],
    [{ QGJOB_TOKENS: `acme=${T.acme},beta=short` }, /QGJOB_TOKENS: the token of entry 2 \(beta\) must be at least 8 characters/],
    [{ QGJOB_TOKENS: `ac me=${T.acme}` }, /"ac me" is not an org name/],
    [{ QGJOB_TOKENS: `acme=${T.acme},beta=${T.acme}` }, /entries 1 and 2 give one token to two orgs/],
    [{ QGJOB_TOKENS: `acme=${T.acme}`, QGJOB_AGENT_TOKEN: T.acme }, /QGJOB_AGENT_TOKEN must differ/],
    [{ QGJOB_AGENT_TOKEN: 'short' }, /QGJOB_AGENT_TOKEN must be at least 8 characters/],
  ];
  for (const [env, re] of bad) {
    let err: unknown;
    try {
      resolveCoordinatorOptions({}, env);
    } catch (e) {
      err = e;
    }
    assert.instance(err, QgError, JSON.stringify(env));
    assert.is((err as QgError).code, 'validation_failed');
    assert.match((err as QgError).message, re);
    assert.not.match((err as QgError).message, new RegExp(T.acme), 'the message never shows a token');
    assert.not.ok((err as QgError).message.includes('\n'));
  }
});

test.run();
