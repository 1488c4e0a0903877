/**
 * The build registry on a real coordinator (SQLite, and MySQL when QGJOB_TEST_MYSQL_URL is set):
 * uploads over HTTP multipart and through the real `qgjob` binary, idempotent re-uploads, a rebuilt
 * binary under the same version, downloads, size limits, validation, URL registration, the submit
 * rule, and the build an assignment carries to a wire agent on `/agents`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveCoordinatorOptions, startCoordinator, type Coordinator } from '../../coordinator/index.js';
import type { AgentToCoordinator, AppBuildView, AppUploadReply, Assignment, CoordinatorToAgent } from '../../shared/index.js';
import { exampleProject, freshMysqlDatabase, repoRoot, runQgjob, tempDir } from '../helpers/processes.js';

const MAX_BUILD_BYTES = 256 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const bytes = (seed: number, n = 3000) => Buffer.from(Array.from({ length: n }, (_, i) => (seed * 7 + i) % 251));

interface ErrorReply {
  error: { code: string; message: string; fields?: Record<string, string> };
}

interface Ctx {
  skip?: string;
  databaseUrl?: string;
  dataDir?: string;
  coordinator?: Coordinator;
  files?: FileServer;
  sockets: Socket[];
  timers: NodeJS.Timeout[];
}

/** A stand-in artifact store on 127.0.0.1 for builds registered by URL. */
interface FileServer {
  url: string;
  files: Map<string, Buffer>;
  server: Server;
}

async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const b = files.get(req.url ?? '');
    if (!b) res.writeHead(404).end('not here');
    else res.writeHead(200, { 'content-length': b.length }).end(b);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, files, server };
}

/** `POST /api/v1/apps` as multipart. */
async function upload(base: string, fields: Record<string, string>, file?: { name: string; data: Buffer }) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (file) form.append('file', new Blob([new Uint8Array(file.data)]), file.name);
  const res = await fetch(`${base}/api/v1/apps`, { method: 'POST', body: form });
  return { status: res.status, body: (await res.json()) as AppUploadReply & ErrorReply };
}

const postJson = async (url: string, body: unknown) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & ErrorReply };
};

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))]);

/** A `/agents` client speaking the protocol message by message, with one emulator/android slot. */
async function wireAgent(ctx: Ctx, agentId: string) {
  const s: Socket<CoordinatorToAgent, AgentToCoordinator> = io(`${ctx.coordinator!.url}/agents`, { transports: ['websocket'], reconnection: false });
  ctx.sockets.push(s);
  const assignments: Assignment[] = [];
  const running = new Map<string, Assignment>();
  let waiter: (() => void) | null = null;
  s.on('assign', (a, ack) => {
    assignments.push(a);
    running.set(a.attempt_id, a);
    ack({ ok: true });
    waiter?.();
  });
  ctx.timers.push(
    setInterval(() => {
      if (s.connected) s.emit('heartbeat', { running: [...running.values()].map((a) => ({ job_id: a.job_id, attempt_id: a.attempt_id, slot_id: a.slot_id })) }, () => {});
    }, 100),
  );
  const reply = await s.timeout(2000).emitWithAck('register', {
    agent_id: agentId,
    name: agentId,
    version: 'test',
    slots: [{ slot_id: 's1', target: 'emulator', platform: 'android', device_name: 'wire', endpoint: 'http://127.0.0.1:1', installed_app_version_id: null }],
    running: [],
  });
  assert.ok(reply.ok, JSON.stringify(reply));
  let consumed = 0;
  return {
    /** The next assignment, run to `passed` at once so the slot is free for the one after. */
    async next(): Promise<Assignment> {
      const arrived = (async () => {
        while (assignments.length <= consumed) await new Promise<void>((resolve) => (waiter = resolve));
      })();
      await within(arrived, 10_000, `an assignment for ${agentId}`);
      const a = assignments[consumed++]!;
      assert.ok((await s.timeout(2000).emitWithAck('started', { job_id: a.job_id, attempt_id: a.attempt_id, install: null })).ok);
      const done = await s.timeout(2000).emitWithAck('finished', {
        job_id: a.job_id,
        attempt_id: a.attempt_id,
        outcome: 'passed',
        error_message: null,
        test_cases: [],
        duration_ms: 1,
        log_chunks: 0,
        video: null,
        video_note: 'wire agent',
      });
      assert.ok(done.ok);
      running.delete(a.attempt_id);
      return a;
    },
  };
}

function registrySuite(name: string, database: () => Promise<string | { skip: string }>, cleanup: () => Promise<void> = async () => {}) {
  const s = suite<Ctx>(name, { sockets: [], timers: [] });
  const skipAll = name.startsWith('mysql') && !process.env.QGJOB_TEST_MYSQL_URL;
  if (skipAll) console.log(`  (${name}: skipped: QGJOB_TEST_MYSQL_URL is not set, e.g. mysql://root@127.0.0.1:3306/test)`);

  const start = async (ctx: Ctx) => {
    ctx.coordinator = await startCoordinator({ port: 0, databaseUrl: ctx.databaseUrl!, dataDir: ctx.dataDir!, maxBuildBytes: MAX_BUILD_BYTES, log: () => {} });
  };
  s.before(async (ctx) => {
    const u = await database();
    if (typeof u !== 'string') {
      ctx.skip = u.skip;
      return;
    }
    ctx.databaseUrl = u;
    ctx.dataDir = tempDir('registry');
    ctx.files = await startFileServer();
    await start(ctx);
  });
  s.after.each((ctx) => {
    for (const t of ctx.timers.splice(0)) clearInterval(t);
    for (const sock of ctx.sockets.splice(0)) sock.close();
  });
  s.after(async (ctx) => {
    await ctx.coordinator?.close();
    if (ctx.files) await new Promise((resolve) => ctx.files!.server.close(resolve));
    await cleanup();
  });
  const t = (title: string, fn: (ctx: Ctx, base: string) => Promise<void>) => {
    if (skipAll) s.skip(title, () => {});
    else s(title, async (ctx) => fn(ctx, ctx.coordinator!.url));
  };

  t('an upload is stored once by hash; the same bytes again are a 200; a rebuilt binary replaces it with a new sha256', async (ctx, base) => {
    const v1 = bytes(1);
    const first = await upload(base, { app_version_id: 'rel/1.0', platform: 'android' }, { name: 'app-release.apk', data: v1 });
    assert.is(first.status, 201, JSON.stringify(first.body));
    assert.equal(
      { ...first.body, download_url: undefined, created_at: undefined },
      { app_version_id: 'rel/1.0', platform: 'android', sha256: sha(v1), size_bytes: v1.length, file_name: 'app-release.apk', source: 'upload', url: null, download_url: undefined, created_at: undefined, outcome: 'created', previous_sha256: null },
    );
    assert.is(first.body.download_url, `${base}/api/v1/apps/rel%2F1.0/download?sha256=${sha(v1)}`);
    assert.equal(readFileSync(join(ctx.dataDir!, 'builds', sha(v1))), v1, 'the bytes are stored under their hash');

    const again = await upload(base, { app_version_id: 'rel/1.0', platform: 'android' }, { name: 'app-release.apk', data: v1 });
    assert.is(again.status, 200);
    assert.is(again.body.outcome, 'unchanged');
    assert.is(again.body.created_at, first.body.created_at);

    const v1b = bytes(2); // rebuilt under the same version string
    const rebuilt = await upload(base, { app_version_id: 'rel/1.0', platform: 'android' }, { name: 'app-release.apk', data: v1b });
    assert.is(rebuilt.status, 201);
    assert.equal([rebuilt.body.outcome, rebuilt.body.sha256, rebuilt.body.previous_sha256], ['replaced', sha(v1b), sha(v1)]);
    assert.not.ok(existsSync(join(ctx.dataDir!, 'builds', sha(v1))), 'bytes no version uses any more are removed');

    const shown = (await (await fetch(`${base}/api/v1/apps/${encodeURIComponent('rel/1.0')}`)).json()) as AppBuildView;
    assert.is(shown.sha256, sha(v1b));
    const got = await fetch(shown.download_url);
    assert.is(got.status, 200);
    assert.is(got.headers.get('etag'), `"${sha(v1b)}"`);
    assert.equal(Buffer.from(await got.arrayBuffer()), v1b, 'the download is the bytes uploaded');
    const plain = await fetch(`${base}/api/v1/apps/rel%2F1.0/download`);
    assert.equal(Buffer.from(await plain.arrayBuffer()), v1b);
    // A link to the replaced build refuses: an agent never installs other bytes than it was told.
    const stale = await fetch(first.body.download_url);
    assert.is(stale.status, 404);
    assert.is(((await stale.json()) as ErrorReply).error.code, 'build_not_found');
  });

  t('the real qgjob binary uploads, re-uploads and shows a build; exit codes for bad input and no coordinator', async (ctx, base) => {
    assert.ok(existsSync(join(repoRoot, 'dist', 'cli', 'index.js')), 'build the CLI first: npm run build');
    const file = join(tempDir('cli-build'), 'fake-app.xml');
    writeFileSync(file, readFileSync(join(exampleProject, 'app', 'fake-app.xml')));
    const args = ['app', 'upload', '--url', base, '--app-version-id', 'cli-1', '--platform', 'android', '--file', file];
    const up = await runQgjob([...args, '--json']);
    assert.is(up.code, 0, up.stderr);
    const reply = JSON.parse(up.stdout) as AppUploadReply;
    assert.equal([reply.outcome, reply.sha256, reply.size_bytes, reply.file_name], ['created', sha(readFileSync(file)), readFileSync(file).length, 'fake-app.xml']);

    const again = await runQgjob(args);
    assert.is(again.code, 0, again.stderr);
    assert.match(again.stderr, /unchanged: cli-1 already has exactly this build/);
    assert.match(again.stdout, new RegExp(`sha256\\s+${reply.sha256}`));

    const show = await runQgjob(['app', 'show', 'cli-1', '--url', base, '--json']);
    assert.is(show.code, 0, show.stderr);
    assert.is((JSON.parse(show.stdout) as AppBuildView).sha256, reply.sha256);

    const unknown = await runQgjob(['app', 'show', 'no-such-version', '--url', base]);
    assert.is(unknown.code, 2);
    assert.match(unknown.stderr, /no build is registered for app_version_id no-such-version/);

    const noPlatform = await runQgjob(['app', 'upload', '--url', base, '--app-version-id', 'cli-2', '--file', file]);
    assert.is(noPlatform.code, 2);
    assert.match(noPlatform.stderr, /missing --platform/);
    // .apk tells the platform; a missing file is bad input, found before any request.
    const missing = await runQgjob(['app', 'upload', '--url', base, '--app-version-id', 'cli-2', '--file', join(ctx.dataDir!, 'none.apk')]);
    assert.is(missing.code, 2);
    assert.match(missing.stderr, /cannot read the build file/);

    const big = join(tempDir('cli-big'), 'big.apk');
    writeFileSync(big, Buffer.alloc(MAX_BUILD_BYTES + 1));
    const tooBig = await runQgjob(['app', 'upload', '--url', base, '--app-version-id', 'cli-3', '--file', big]);
    assert.is(tooBig.code, 2, tooBig.stderr);
    assert.match(tooBig.stderr, /over the limit of 262144 bytes/);

    const down = await runQgjob(['app', 'upload', '--url', 'http://127.0.0.1:1', '--app-version-id', 'cli-4', '--platform', 'android', '--file', file]);
    assert.is(down.code, 3);
    assert.match(down.stderr, /cannot reach the coordinator/);
  });

  t('over QGJOB_MAX_BUILD_BYTES is a 413, whether the size is declared or only seen while streaming', async (ctx, base) => {
    const declared = await upload(base, { app_version_id: 'big-1', platform: 'android' }, { name: 'big.apk', data: Buffer.alloc(MAX_BUILD_BYTES + 1) });
    assert.is(declared.status, 413);
    assert.is(declared.body.error.code, 'payload_too_large');
    // Chunked: no Content-Length, the limit is found in the stream.
    const boundary = 'qgjob-test-boundary';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="app_version_id"\r\n\r\nbig-2\r\n--${boundary}\r\nContent-Disposition: form-data; name="platform"\r\n\r\nandroid\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.apk"\r\n\r\n`;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(head));
        for (let i = 0; i < 8; i++) c.enqueue(new Uint8Array(64 * 1024));
        c.enqueue(new TextEncoder().encode(`\r\n--${boundary}--\r\n`));
        c.close();
      },
    });
    const res = await fetch(`${base}/api/v1/apps`, { method: 'POST', body, duplex: 'half', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } } as RequestInit);
    assert.is(res.status, 413);
    assert.is(((await res.json()) as ErrorReply).error.code, 'payload_too_large');
    assert.equal((await fetch(`${base}/api/v1/apps/big-2`)).status, 404, 'nothing registered');
    // The environment sets the limit.
    assert.is(resolveCoordinatorOptions({}, { QGJOB_MAX_BUILD_BYTES: '1234' }).maxBuildBytes, 1234);
    assert.is(resolveCoordinatorOptions({}, {}).maxBuildBytes, 2 * 1024 ** 3);
    assert.throws(() => resolveCoordinatorOptions({}, { QGJOB_MAX_BUILD_BYTES: '2GB' }), /QGJOB_MAX_BUILD_BYTES must be a whole number of bytes/);
  });

  t('bad uploads are 400 validation_failed naming the fields', async (ctx, base) => {
    const file = { name: 'a.apk', data: bytes(3) };
    const platform = await upload(base, { app_version_id: 'v-bad', platform: 'windows' }, file);
    assert.is(platform.status, 400);
    assert.is(platform.body.error.code, 'validation_failed');
    assert.ok(platform.body.error.fields?.platform, JSON.stringify(platform.body));
    const noFields = await upload(base, {}, file);
    assert.is(noFields.status, 400);
    assert.ok(noFields.body.error.fields?.app_version_id && noFields.body.error.fields?.platform, JSON.stringify(noFields.body));
    const noFile = await upload(base, { app_version_id: 'v-bad', platform: 'android' });
    assert.ok(noFile.body.error.fields?.file, JSON.stringify(noFile.body));
    const ext = await upload(base, { app_version_id: 'v-bad', platform: 'android' }, { name: 'app.exe', data: bytes(3) });
    assert.is(ext.status, 400);
    assert.match(ext.body.error.fields?.file ?? '', /must end in \.app\.zip, \.apk, \.aab, \.ipa, \.zip, \.xml/);
    const extra = await upload(base, { app_version_id: 'v-bad', platform: 'android', org: 'x' }, file);
    assert.is(extra.body.error.fields?.org, 'unknown field');
    const id = await upload(base, { app_version_id: 'has space', platform: 'android' }, file);
    assert.ok(id.body.error.fields?.app_version_id);
    const text = await fetch(`${base}/api/v1/apps`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    assert.is(text.status, 400);
    const notJson = await fetch(`${base}/api/v1/apps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    assert.is(((await notJson.json()) as ErrorReply).error.code, 'invalid_json');
    const malformed = await fetch(`${base}/api/v1/apps`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=zz' }, body: '--zz\r\nno-disposition: x\r\n\r\nbody\r\n--zz--\r\n' });
    assert.is(malformed.status, 400);
    assert.match(((await malformed.json()) as ErrorReply).error.message, /malformed/);
    assert.is((await fetch(`${base}/api/v1/apps/v-bad`)).status, 404, 'nothing was registered');
    const badSha = await fetch(`${base}/api/v1/apps/v-bad/download?sha256=xyz`);
    assert.is(badSha.status, 400);
  });

  t('a build registered by URL is read once for its hash; downloads redirect to it', async (ctx, base) => {
    const b = bytes(4, 5000);
    ctx.files!.files.set('/artifacts/app-release.apk', b);
    const url = `${ctx.files!.url}/artifacts/app-release.apk`;
    const reg = await postJson(`${base}/api/v1/apps`, { app_version_id: 'url-1', platform: 'android', url, sha256: sha(b) });
    assert.is(reg.status, 201, JSON.stringify(reg.body));
    assert.equal([reg.body.source, reg.body.url, reg.body.sha256, reg.body.size_bytes, reg.body.file_name], ['url', url, sha(b), b.length, 'app-release.apk']);
    const again = await postJson(`${base}/api/v1/apps`, { app_version_id: 'url-1', platform: 'android', url });
    assert.is(again.status, 200);
    const d = await fetch(`${base}/api/v1/apps/url-1/download?sha256=${sha(b)}`, { redirect: 'manual' });
    assert.is(d.status, 302);
    assert.is(d.headers.get('location'), url);
    const followed = await fetch(`${base}/api/v1/apps/url-1/download?sha256=${sha(b)}`);
    assert.equal(Buffer.from(await followed.arrayBuffer()), b);

    const wrong = await postJson(`${base}/api/v1/apps`, { app_version_id: 'url-2', platform: 'android', url, sha256: sha(bytes(5)) });
    assert.is(wrong.status, 400);
    assert.ok(wrong.body.error.fields?.sha256);
    const gone = await postJson(`${base}/api/v1/apps`, { app_version_id: 'url-2', platform: 'android', url: `${ctx.files!.url}/artifacts/none.apk` });
    assert.is(gone.status, 400);
    assert.match(gone.body.error.fields?.url ?? '', /HTTP 404/);
    const nameless = await postJson(`${base}/api/v1/apps`, { app_version_id: 'url-2', platform: 'android', url: `${ctx.files!.url}/download?id=7` });
    assert.ok(nameless.body.error.fields?.file_name, JSON.stringify(nameless.body));
    ctx.files!.files.set('/artifacts/huge.apk', Buffer.alloc(MAX_BUILD_BYTES + 10));
    const huge = await postJson(`${base}/api/v1/apps`, { app_version_id: 'url-2', platform: 'android', url: `${ctx.files!.url}/artifacts/huge.apk` });
    assert.is(huge.status, 413);
  });

  t('submit: build "registry" with no registered build is refused with build_not_found; auto and agent are accepted', async (ctx, base) => {
    const job = { org_id: 'org', test_path: 'tests/a.spec.js', target: 'emulator' };
    const refused = await postJson(`${base}/api/v1/jobs`, { ...job, app_version_id: 'never-uploaded', build: 'registry' });
    assert.is(refused.status, 404);
    assert.is(refused.body.error.code, 'build_not_found');
    assert.match(refused.body.error.message, /qgjob app upload --app-version-id never-uploaded/);
    assert.is((await postJson(`${base}/api/v1/jobs`, { ...job, app_version_id: 'never-uploaded' })).status, 201, 'auto (the default): the agents provide it');
    assert.is((await postJson(`${base}/api/v1/jobs`, { ...job, app_version_id: 'never-uploaded', build: 'agent' })).status, 201);
    const bad = await postJson(`${base}/api/v1/jobs`, { ...job, app_version_id: 'x', build: 'cloud' });
    assert.ok(bad.body.error.fields?.build);

    await upload(base, { app_version_id: 'ios-1', platform: 'ios' }, { name: 'App.ipa', data: bytes(6) });
    assert.is((await postJson(`${base}/api/v1/jobs`, { ...job, app_version_id: 'ios-1', platform: 'ios', build: 'registry' })).status, 201);
    const wrongPlatform = await postJson(`${base}/api/v1/jobs`, { ...job, app_version_id: 'ios-1', platform: 'android' });
    assert.is(wrongPlatform.status, 400);
    assert.match(wrongPlatform.body.error.fields?.platform ?? '', /must be ios/);
    // The CLI's --build reaches the same rule.
    const cli = await runQgjob(['submit', '--url', base, '--org-id', 'org', '--app-version-id', 'never-uploaded', '--test', 'tests/a.spec.js', '--target', 'emulator', '--build', 'registry']);
    assert.is(cli.code, 2);
    assert.match(cli.stderr, /no build is registered for app_version_id never-uploaded/);
    // Keep the queue clear for the assignment test: cancel what was accepted here.
    const queued = (await (await fetch(`${base}/api/v1/jobs?status=queued`)).json()) as { jobs: Array<{ job_id: string }> };
    for (const j of queued.jobs) await fetch(`${base}/api/v1/jobs/${j.job_id}/cancel`, { method: 'POST' });
  });

  t('an assignment carries the registered build (hash, size, name, link); null when the agent provides it', async (ctx, base) => {
    const v = bytes(7, 4096);
    const up = await upload(base, { app_version_id: 'wire-1', platform: 'android' }, { name: 'wire.apk', data: v });
    assert.is(up.status, 201);
    const agent = await wireAgent(ctx, 'agent-builds');
    const job = { org_id: 'org', test_path: 'tests/a.spec.js', target: 'emulator' };

    await postJson(`${base}/api/v1/jobs`, { ...job, app_version_id: 'wire-1' });
    const a1 = await agent.next();
    assert.equal(a1.build, { sha256: sha(v), size_bytes: v.length, file_name: 'wire.apk', platform: 'android', download_url: `/api/v1/apps/wire-1/download?sha256=${sha(v)}` });
    const got = await fetch(new URL(a1.build!.download_url, base));
    assert.is(sha(new Uint8Array(await got.arrayBuffer())), a1.build!.sha256, 'the link gives exactly those bytes');

    await postJson(`${base}/api/v1/jobs`, { ...job, app_version_id: 'wire-1', build: 'agent' });
    assert.is((await agent.next()).build, null, 'build "agent": the agent uses its own files');
    await postJson(`${base}/api/v1/jobs`, { ...job, app_version_id: 'wire-unregistered' });
    assert.is((await agent.next()).build, null, 'auto without a registered build');

    const rebuilt = bytes(8, 4096);
    await upload(base, { app_version_id: 'wire-1', platform: 'android' }, { name: 'wire.apk', data: rebuilt });
    await postJson(`${base}/api/v1/jobs`, { ...job, app_version_id: 'wire-1', build: 'registry' });
    const a4 = await agent.next();
    assert.is(a4.build!.sha256, sha(rebuilt), 'a rebuilt binary reaches the next assignment under the same version');
    assert.is(a4.app_version_id, a1.app_version_id);

    // A version that had no build when a job of it was dispatched gets the one uploaded afterwards.
    const late = bytes(10, 4096);
    await upload(base, { app_version_id: 'wire-unregistered', platform: 'android' }, { name: 'late.apk', data: late });
    await postJson(`${base}/api/v1/jobs`, { ...job, app_version_id: 'wire-unregistered' });
    assert.is((await agent.next()).build?.sha256, sha(late), 'a build uploaded after a job without one reaches the next assignment');
  });

  t('builds survive a coordinator restart (rows in the database, bytes in the data folder)', async (ctx, base) => {
    const v = bytes(9);
    await upload(base, { app_version_id: 'durable-1', platform: 'android' }, { name: 'd.apk', data: v });
    await ctx.coordinator!.close();
    await start(ctx);
    const after = ctx.coordinator!.url;
    const shown = (await (await fetch(`${after}/api/v1/apps/durable-1`)).json()) as AppBuildView;
    assert.is(shown.sha256, sha(v));
    assert.equal(Buffer.from(await (await fetch(shown.download_url)).arrayBuffer()), v);
  });

  s.run();
}

registrySuite('sqlite build registry', async () => `sqlite:${join(tempDir('registry-db'), 'qgjob.sqlite')}`);
let drop: () => Promise<void> = async () => {};
registrySuite(
  'mysql build registry',
  async () => {
    const db = await freshMysqlDatabase('builds');
    if ('skip' in db) return db;
    drop = db.drop;
    return db.url;
  },
  () => drop(),
);
