/**
 * The agent's build cache against a real HTTP server on 127.0.0.1 serving build bytes: one
 * download for concurrent requests, verification by size and sha256, LRU eviction within the
 * size bound (never a build in use), and a new cache on the same folder finding it all again.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BuildCache, BuildDownloadError, type BuildRef } from '../../agent/builds/build-cache.js';
import { tempDir } from '../helpers/processes.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const bytes = (seed: number, n = 100) => Buffer.from(Array.from({ length: n }, (_, i) => (seed * 31 + i) % 256));

/** A file server: `files[path]` → bytes; counts requests per path; `hold` delays answers until released. */
class FileServer {
  readonly files = new Map<string, Buffer>();
  readonly requests = new Map<string, number>();
  #server!: Server;
  #held: Array<() => void> = [];
  #arrived: Array<() => void> = [];
  hold = false;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const path = req.url ?? '/';
      this.requests.set(path, (this.requests.get(path) ?? 0) + 1);
      for (const w of this.#arrived.splice(0)) w();
      const answer = () => {
        const body = this.files.get(path);
        if (!body) {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"build_not_found","message":"no such build"}}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
      };
      if (this.hold) this.#held.push(answer);
      else answer();
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /** Resolves when the next request arrives. */
  nextRequest(): Promise<void> {
    return new Promise((resolve) => this.#arrived.push(resolve));
  }

  release(): void {
    this.hold = false;
    for (const a of this.#held.splice(0)) a();
  }

  count(path: string): number {
    return this.requests.get(path) ?? 0;
  }

  async stop(): Promise<void> {
    this.release();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

let server: FileServer;
const logs: string[] = [];
const log = (l: string) => logs.push(l);

/** Serves `b` at `/builds/<name>` and returns its BuildRef. */
function serve(b: Buffer, name = `${sha(b).slice(0, 8)}.apk`): BuildRef {
  server.files.set(`/builds/${name}`, b);
  return { sha256: sha(b), size_bytes: b.length, download_url: `${server.url}/builds/${name}`, file_name: name };
}

test.before.each(async () => {
  server = new FileServer();
  await server.start();
  logs.length = 0;
});
test.after.each(async () => {
  await server.stop();
});

test('concurrent requests for one build make one download; later requests are hits', async () => {
  const dir = tempDir('cache');
  const cache = new BuildCache({ dir, log });
  const b = bytes(1, 64 * 1024 + 7);
  const ref = serve(b, 'app.apk');
  server.hold = true;
  const arrived = server.nextRequest();
  const all = Promise.all(Array.from({ length: 5 }, () => cache.fetch(ref)));
  await arrived;
  server.release();
  const paths = await all;
  assert.is(server.count('/builds/app.apk'), 1, 'one HTTP request for five concurrent fetches');
  assert.is(new Set(paths).size, 1);
  assert.ok(paths[0]!.endsWith(`${ref.sha256}.apk`), 'the file keeps the build extension');
  assert.equal(readFileSync(paths[0]!), b);
  const s = cache.stats();
  assert.equal([s.misses, s.joined, s.hits, s.entries, s.bytes, s.bytesDownloaded], [1, 4, 0, 1, b.length, b.length]);
  const again = await cache.fetch(ref);
  assert.is(again, paths[0]);
  assert.is(server.count('/builds/app.apk'), 1, 'a hit makes no request');
  assert.is(cache.stats().hits, 1);
});

test('bytes that do not match the sha256 or the size are refused and not kept', async () => {
  const dir = tempDir('cache');
  const cache = new BuildCache({ dir, log });
  const good = bytes(2);
  const evil = bytes(3); // same length, other bytes
  server.files.set('/builds/x.apk', evil);
  const ref: BuildRef = { sha256: sha(good), size_bytes: good.length, download_url: `${server.url}/builds/x.apk`, file_name: 'x.apk' };
  const err = await cache.fetch(ref).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof BuildDownloadError, String(err));
  assert.is((err as BuildDownloadError).kind, 'hash_mismatch');
  assert.match((err as Error).message, new RegExp(sha(evil)));
  assert.equal(readdirSync(dir).filter((f) => f !== '.partial'), [], 'nothing kept');
  assert.equal(readdirSync(join(dir, '.partial')), [], 'no partial file left');

  server.files.set('/builds/long.apk', Buffer.concat([good, Buffer.from('x')]));
  const long = await cache.fetch({ ...ref, download_url: `${server.url}/builds/long.apk` }).catch((e: unknown) => e);
  assert.is((long as BuildDownloadError).kind, 'size_mismatch');

  const missing = await cache.fetch({ ...ref, download_url: `${server.url}/builds/none.apk` }).catch((e: unknown) => e);
  assert.is((missing as BuildDownloadError).kind, 'http_status');
  assert.match((missing as Error).message, /HTTP 404.*no such build/);

  // The right bytes afterwards: downloaded and kept.
  server.files.set('/builds/x.apk', good);
  const path = await cache.fetch(ref);
  assert.equal(readFileSync(path), good);
  assert.equal([cache.stats().failures, cache.stats().entries], [3, 1]);
});

test('past maxBytes the least recently used build is evicted, never one in use', async () => {
  const dir = tempDir('cache');
  const cache = new BuildCache({ dir, maxBytes: 250, log });
  const [a, b, c, d] = [bytes(10), bytes(11), bytes(12), bytes(13)].map((x) => serve(x));
  const pa = await cache.fetch(a!);
  const pb = await cache.fetch(b!);
  await cache.fetch(a!); // a is now more recently used than b
  const pc = await cache.fetch(c!); // 300 > 250: b goes
  assert.ok(existsSync(pa) && existsSync(pc), 'a and c kept');
  assert.not.ok(existsSync(pb), 'b (least recently used) evicted');
  assert.equal([cache.stats().evictions, cache.stats().entries, cache.stats().bytes], [1, 2, 200]);
  assert.ok(logs.some((l) => l.includes(`build ${b!.sha256.slice(0, 12)} evicted`)), logs.join('\n'));

  // a is older than c now, but held by a device: c goes instead.
  const held = await cache.acquire(a!);
  await cache.fetch(d!);
  assert.ok(existsSync(held.path), 'a build in use is not evicted');
  assert.not.ok(existsSync(pc), 'the least recently used build not in use is');
  held.release();
  assert.is(cache.stats().evictions, 2);
  // Fetching b again downloads it again (it was evicted).
  await cache.fetch(b!);
  assert.is(server.count(new URL(b!.download_url).pathname), 2);
});

test('a new cache on the same folder finds its builds and their order; partial downloads are dropped', async () => {
  const dir = tempDir('cache');
  const first = new BuildCache({ dir, maxBytes: 250, log });
  const [a, b, c] = [bytes(20), bytes(21), bytes(22)].map((x) => serve(x));
  await first.fetch(a!);
  await first.fetch(b!);
  await first.fetch(a!); // order of use: b, then a
  mkdirSync(join(dir, '.partial'), { recursive: true });
  writeFileSync(join(dir, '.partial', `${c!.sha256}.apk.999.1`), 'half a download');

  const second = new BuildCache({ dir, maxBytes: 250, log });
  const pa = await second.fetch(a!);
  assert.is(server.count(new URL(a!.download_url).pathname), 1, 'no download after the restart');
  assert.equal([second.stats().hits, second.stats().misses, second.stats().entries], [1, 0, 2]);
  assert.equal(readdirSync(join(dir, '.partial')), [], 'the partial download of the previous run is removed');
  await second.fetch(c!); // needs room: b was used least recently before the restart
  assert.ok(existsSync(pa));
  assert.not.ok(existsSync(join(dir, `${b!.sha256}.apk`)), 'the LRU order survived the restart');
  assert.is(second.stats().evictions, 1);
});

test('a relative download URL is resolved against baseUrl (the coordinator URL)', async () => {
  const b = bytes(30, 1000);
  server.files.set(`/api/v1/apps/v1/download?sha256=${sha(b)}`, b);
  const cache = new BuildCache({ dir: tempDir('cache'), baseUrl: server.url, log });
  const path = await cache.fetch({ sha256: sha(b), size_bytes: b.length, download_url: `/api/v1/apps/v1/download?sha256=${sha(b)}`, file_name: 'fake-app.xml' });
  assert.ok(path.endsWith('.xml'));
  assert.equal(readFileSync(path), b);
});

test('a request that stops waiting does not stop the download for the others', async () => {
  const cache = new BuildCache({ dir: tempDir('cache'), log });
  const ref = serve(bytes(40, 5000));
  server.hold = true;
  const arrived = server.nextRequest();
  const stop = new AbortController();
  const impatient = cache.fetch(ref, { signal: stop.signal });
  const patient = cache.fetch(ref);
  await arrived;
  stop.abort(new Error('the attempt was cancelled'));
  const gaveUp = await impatient.catch((e: unknown) => e);
  assert.match((gaveUp as Error).message, /cancelled/);
  server.release();
  assert.ok(existsSync(await patient));
  assert.is(server.count(new URL(ref.download_url).pathname), 1);
});

test.run();
