/**
 * The agent's build cache: registry builds (an assignment's `build`) downloaded once per sha256
 * into a local folder, verified while they stream in, and kept least-recently-used within a size
 * bound, so N jobs of one build on this host cost one download.
 *
 * - One download per build: concurrent requests for a build share one download.
 * - Verified: the bytes must have the announced size and sha256; otherwise the download is an
 *   error and nothing is kept.
 * - Bounded: past `maxBytes`, the least recently used builds are removed, never one in use (held
 *   by `acquire` until `release`). A single build larger than the bound is still kept while needed.
 * - Durable: a file appears under its final name only once complete and fsynced (downloads go to
 *   `<dir>/.partial/` first), and its mtime records its last use, so a new BuildCache on the same
 *   folder (an agent restart) finds every build and the LRU order again.
 *
 * Files are `<dir>/<sha256><ext>`: the extension of the build's file name (`.apk`, `.ipa`,
 * `.app.zip`, …) is kept because drivers read it. One agent per folder.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { buildFileExtension } from '../../shared/index.js';

/** What the cache needs of a build (an assignment's `build`). */
export interface BuildRef {
  sha256: string;
  size_bytes: number;
  /** Absolute, or relative to `baseUrl` (the coordinator's `/api/v1/apps/<id>/download?sha256=…`). */
  download_url: string;
  /** The build's file name; only its extension is used. */
  file_name?: string;
}

export interface BuildCacheOptions {
  /** The cache folder; created if missing. */
  dir: string;
  /** Bound on the bytes kept (default 10 GiB). */
  maxBytes?: number;
  /** What relative download URLs are resolved against: the coordinator's base URL. */
  baseUrl?: string;
  /**
   * The agent token, sent as `Authorization: Bearer` to the coordinator (`baseUrl`'s origin) only,
   * never to a registered build's own host. Default: none.
   */
  token?: string;
  /** Bound on one download, connect to last byte (ms). Default 1 800 000 (30 min). */
  downloadTimeoutMs?: number;
  /** Operational log lines (downloads, evictions). Default: none. */
  log?: (line: string) => void;
}

export interface BuildCacheStats {
  /** Requests served from the folder. */
  hits: number;
  /** Requests that started a download. */
  misses: number;
  /** Requests that waited for a download another request had started. */
  joined: number;
  /** Builds removed to stay within maxBytes. */
  evictions: number;
  /** Downloads that failed (network, HTTP status, size or hash mismatch). */
  failures: number;
  bytesDownloaded: number;
  /** Builds in the folder now, and their bytes. */
  entries: number;
  bytes: number;
}

/** A build held in the cache until `release` (it is not evicted meanwhile). */
export interface BuildLease {
  path: string;
  sha256: string;
  /** True when this request downloaded the build (a miss). */
  downloaded: boolean;
  release(): void;
}

/** Why a download did not give the build. */
export class BuildDownloadError extends Error {
  override readonly name = 'BuildDownloadError';
  constructor(
    readonly kind: 'unreachable' | 'http_status' | 'size_mismatch' | 'hash_mismatch',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface Entry {
  key: string;
  sha256: string;
  path: string;
  sizeBytes: number;
  lastUsedMs: number;
  /** Leases held on it: while above 0 it is not evicted. */
  pins: number;
}

/** A download in progress and the requests waiting for it (each gets a pin the moment it completes). */
interface Flight {
  promise: Promise<Entry>;
  waiters: number;
  entry: Entry | null;
}

const FILE_NAME = /^([0-9a-f]{64})((?:\.[A-Za-z0-9]+)*)$/;
const SHA256 = /^[0-9a-f]{64}$/;
const short = (sha: string) => sha.slice(0, 12);

export class BuildCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #partialDir: string;
  readonly #log: (line: string) => void;
  /** Least recently used first (Map order). */
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Flight>();
  #reservedBytes = 0;
  #clockMs = 0;
  #seq = 0;
  #ready: Promise<void> | null = null;
  readonly #stats = { hits: 0, misses: 0, joined: 0, evictions: 0, failures: 0, bytesDownloaded: 0 };

  constructor(private readonly opts: BuildCacheOptions) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes ?? 10 * 1024 ** 3;
    this.#partialDir = join(opts.dir, '.partial');
    this.#log = opts.log ?? (() => {});
  }

  /** Loads the folder (once): the builds there, by last use; partial downloads are removed. */
  ready(): Promise<void> {
    return (this.#ready ??= this.#load());
  }

  /**
   * The local path of the build, downloading it if needed. The build may be evicted later; use
   * `acquire` to hold it while a device installs it.
   * @example const file = await cache.fetch(assignment.build!);
   */
  async fetch(build: BuildRef, opts: { signal?: AbortSignal } = {}): Promise<string> {
    const lease = await this.acquire(build, opts);
    lease.release();
    return lease.path;
  }

  /**
   * The build, held (never evicted) until `release`. Downloads it when the folder does not have
   * it; a request while it downloads waits for that download. `signal` stops this request waiting
   * (the download goes on for the others). Errors: BuildDownloadError.
   * @example const lease = await cache.acquire(a.build); try { await install(lease.path); } finally { lease.release(); }
   */
  async acquire(build: BuildRef, opts: { signal?: AbortSignal } = {}): Promise<BuildLease> {
    if (!SHA256.test(build.sha256)) throw new Error(`not a sha256: "${build.sha256}"`);
    if (!Number.isSafeInteger(build.size_bytes) || build.size_bytes < 0) throw new Error(`not a size in bytes: ${build.size_bytes}`);
    await this.ready();
    const key = build.sha256 + (build.file_name ? (buildFileExtension(build.file_name) ?? '') : '');
    const known = this.#entries.get(key);
    if (known) {
      known.pins++; // held while it is checked, so no eviction takes it meanwhile
      if (await this.#intact(known, build.size_bytes)) {
        this.#stats.hits++;
        await this.#touch(known);
        return this.#lease(known, false);
      }
      known.pins--;
    }
    let flight = this.#inflight.get(key);
    const downloading = !flight;
    if (flight) this.#stats.joined++;
    else {
      this.#stats.misses++;
      const f: Flight = { promise: null as unknown as Promise<Entry>, waiters: 0, entry: null };
      f.promise = this.#download(key, build).then((entry) => {
        // Pinned for every waiter in the same step the download completes: no eviction in between.
        entry.pins += f.waiters;
        f.entry = entry;
        return entry;
      });
      f.promise.then(
        () => this.#inflight.delete(key),
        () => this.#inflight.delete(key),
      );
      this.#inflight.set(key, f);
      flight = f;
    }
    flight.waiters++;
    try {
      return this.#lease(await untilAborted(flight.promise, opts.signal), downloading);
    } catch (err) {
      // Gave up waiting: drop this request's claim (its pin, if the download completed meanwhile).
      if (flight.entry) flight.entry.pins--;
      else flight.waiters--;
      throw err;
    }
  }

  stats(): BuildCacheStats {
    let bytes = 0;
    for (const e of this.#entries.values()) bytes += e.sizeBytes;
    return { ...this.#stats, entries: this.#entries.size, bytes };
  }

  /** A lease on an entry whose pin this request already holds. */
  #lease(entry: Entry, downloaded: boolean): BuildLease {
    let released = false;
    return {
      path: entry.path,
      sha256: entry.sha256,
      downloaded,
      release: () => {
        if (released) return;
        released = true;
        entry.pins--;
      },
    };
  }

  /** True when the entry's file is still there with its size; drops the entry otherwise. */
  async #intact(entry: Entry, sizeBytes: number): Promise<boolean> {
    try {
      const st = await stat(entry.path);
      if (st.size === sizeBytes && st.size === entry.sizeBytes) return true;
    } catch {
      // gone
    }
    if (this.#entries.get(entry.key) === entry) {
      this.#entries.delete(entry.key);
      await rm(entry.path, { force: true });
      this.#log(`build ${short(entry.sha256)}: the cached file is missing or changed; downloading it again`);
    }
    return false;
  }

  /** A use time later than any before (so the LRU order survives equal clock readings), stored as the file's mtime. */
  async #touch(entry: Entry): Promise<void> {
    this.#clockMs = Math.max(Date.now(), this.#clockMs + 1);
    entry.lastUsedMs = this.#clockMs;
    this.#entries.delete(entry.key);
    this.#entries.set(entry.key, entry);
    const t = new Date(entry.lastUsedMs);
    await utimes(entry.path, t, t).catch(() => undefined);
  }

  async #load(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await rm(this.#partialDir, { recursive: true, force: true });
    await mkdir(this.#partialDir, { recursive: true });
    const found: Entry[] = [];
    for (const name of await readdir(this.dir)) {
      const m = FILE_NAME.exec(name);
      if (!m) continue;
      const path = join(this.dir, name);
      const st = await stat(path).catch(() => null);
      if (!st?.isFile()) continue;
      found.push({ key: name, sha256: m[1]!, path, sizeBytes: st.size, lastUsedMs: st.mtimeMs, pins: 0 });
    }
    found.sort((a, b) => a.lastUsedMs - b.lastUsedMs);
    for (const e of found) {
      this.#entries.set(e.key, e);
      this.#clockMs = Math.max(this.#clockMs, Math.ceil(e.lastUsedMs));
    }
    if (found.length) this.#log(`build cache ${this.dir}: ${found.length} build(s), ${this.stats().bytes} bytes`);
    await this.#evict(0);
  }

  /** Removes least recently used builds not in use until `incoming` more bytes fit within maxBytes. */
  async #evict(incoming: number): Promise<void> {
    let total = this.stats().bytes + this.#reservedBytes;
    for (const e of [...this.#entries.values()]) {
      if (total + incoming <= this.maxBytes) return;
      if (e.pins > 0) continue;
      this.#entries.delete(e.key);
      total -= e.sizeBytes;
      this.#stats.evictions++;
      await rm(e.path, { force: true });
      this.#log(`build ${short(e.sha256)} evicted (${e.sizeBytes} bytes, last used ${new Date(e.lastUsedMs).toISOString()}) to stay within ${this.maxBytes} bytes`);
    }
    if (total + incoming > this.maxBytes) {
      this.#log(`build cache over its bound: ${total + incoming} bytes needed, ${this.maxBytes} allowed; the builds in use are kept`);
    }
  }

  async #download(key: string, build: BuildRef): Promise<Entry> {
    const url = new URL(build.download_url, this.opts.baseUrl).href;
    const final = join(this.dir, key);
    const partial = join(this.#partialDir, `${key}.${process.pid}.${++this.#seq}`);
    await this.#evict(build.size_bytes);
    this.#reservedBytes += build.size_bytes;
    const started = Date.now();
    this.#log(`build ${short(build.sha256)}: not cached; downloading ${build.size_bytes} bytes from ${url}`);
    try {
      await this.#receive(url, build, partial);
      await rename(partial, final);
      await syncDir(this.dir);
    } catch (err) {
      this.#stats.failures++;
      await rm(partial, { force: true });
      this.#log(`build ${short(build.sha256)}: download failed: ${(err as Error).message}; nothing kept`);
      throw err;
    } finally {
      this.#reservedBytes -= build.size_bytes;
    }
    this.#stats.bytesDownloaded += build.size_bytes;
    const entry: Entry = { key, sha256: build.sha256, path: final, sizeBytes: build.size_bytes, lastUsedMs: 0, pins: 0 };
    this.#entries.set(key, entry);
    await this.#touch(entry);
    this.#log(`build ${short(build.sha256)}: downloaded and verified in ${Date.now() - started} ms`);
    return entry;
  }

  /** Streams the download into `partial`, hashing; checks size and sha256; fsyncs. */
  async #receive(url: string, build: BuildRef, partial: string): Promise<void> {
    const signal = AbortSignal.timeout(this.opts.downloadTimeoutMs ?? 1_800_000);
    let res: Response;
    try {
      // A redirect to another origin (a registered URL) drops the header: fetch strips Authorization then.
      const toCoordinator = this.opts.token && this.opts.baseUrl && new URL(url).origin === new URL(this.opts.baseUrl).origin;
      res = await fetch(url, { signal, redirect: 'follow', ...(toCoordinator ? { headers: { authorization: `Bearer ${this.opts.token}` } } : {}) });
    } catch (err) {
      throw new BuildDownloadError('unreachable', `cannot download build ${short(build.sha256)} from ${url}: ${reason(err)}`, { cause: err });
    }
    if (!res.ok || !res.body) {
      const detail = await head(res.body, 2048);
      throw new BuildDownloadError('http_status', `cannot download build ${short(build.sha256)} from ${url}: HTTP ${res.status}${detail ? ` ${detail.slice(0, 300)}` : ''}`);
    }
    const hash = createHash('sha256');
    const fh = await open(partial, 'wx');
    let size = 0;
    try {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          size += chunk.byteLength;
          if (size > build.size_bytes) {
            throw new BuildDownloadError('size_mismatch', `build ${short(build.sha256)} from ${url} is longer than the announced ${build.size_bytes} bytes`);
          }
          hash.update(chunk);
          let off = 0;
          while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
        }
      } catch (err) {
        if (err instanceof BuildDownloadError) throw err;
        throw new BuildDownloadError('unreachable', `download of build ${short(build.sha256)} from ${url} was cut off: ${reason(err)}`, { cause: err });
      }
      if (size !== build.size_bytes) {
        throw new BuildDownloadError('size_mismatch', `build ${short(build.sha256)} from ${url} has ${size} bytes, not the announced ${build.size_bytes}`);
      }
      const got = hash.digest('hex');
      if (got !== build.sha256) {
        throw new BuildDownloadError('hash_mismatch', `build from ${url} has sha256 ${got}, not the announced ${build.sha256}: not kept`);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/** The first `maxBytes` of a body as text (an error answer's explanation); the rest is not read. */
async function head(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<string> {
  if (!body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      chunks.push(Buffer.from(chunk));
      size += chunk.byteLength;
      if (size >= maxBytes) break; // leaving the loop cancels the rest
    }
  } catch {
    // an explanation is best effort
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, maxBytes).trim();
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function reason(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 4 && e instanceof Error && e.cause instanceof Error; i++) e = e.cause;
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return 'no complete answer in time';
  return e instanceof Error ? e.message : String(e);
}

/** `p`, or a rejection as soon as `signal` aborts (p goes on). */
function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
