/**
 * The build registry: one app build per app_version_id, with its sha256, size, platform and file
 * name. Uploaded bytes are kept once per sha256 (BlobStore); a build registered by URL is read
 * once to learn its hash and size, and downloads are redirected to the URL. Jobs name builds by
 * app_version_id; the dispatcher puts the version's build (hash and download link) into each
 * assignment, so agents install exactly those bytes.
 *
 * Registering is one short critical section per coordinator (compare, place the bytes, write the
 * row, drop bytes no version uses any more), after the bytes have been received and hashed.
 *
 * The registry is the only writer of the builds' rows (one coordinator per database), so it keeps
 * what it read or wrote: a submit's check and each assignment's build cost no query once the
 * version is known (the dispatch path would otherwise wait for one store round trip per job).
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import {
  type AppUploadFields,
  type AppUrlRegistration,
  type AssignedBuild,
  type BuildMode,
  type Platform,
  BuildFileName,
  QgError,
} from '../../shared/index.js';
import type { AppBuildRow, BuildStore } from '../store/index.js';
import { type Logger, type LogTarget, silentLogger, toLogger } from '../log.js';
import { KeyedLock } from '../util/keyed-lock.js';
import type { BlobStore, BlobWriter } from './blob-store.js';

export interface BuildRegistryOptions {
  /** Largest build accepted, in bytes (QGJOB_MAX_BUILD_BYTES; default 2 GiB). */
  maxBuildBytes: number;
  /** Bound on reading a registered URL to hash it (ms). Default 600 000 (10 min). */
  urlReadTimeoutMs?: number;
  now?: () => number;
  /** Registrations and missing files. Default: none. */
  log?: LogTarget;
}

export interface Registered {
  row: AppBuildRow;
  /** `unchanged`: the version already had exactly this build (nothing was written). */
  outcome: 'created' | 'unchanged' | 'replaced';
  /** With `replaced`: the sha256 the version had before. */
  previousSha256: string | null;
}

export type Download = { kind: 'file'; row: AppBuildRow; path: string } | { kind: 'redirect'; row: AppBuildRow; url: string };

/** The download link of a build, on the coordinator, pinned to its hash. */
export const downloadPath = (row: Pick<AppBuildRow, 'appVersionId' | 'sha256'>): string =>
  `/api/v1/apps/${encodeURIComponent(row.appVersionId)}/download?sha256=${row.sha256}`;

/** The most specific reason Node gives for a failed fetch. */
function fetchReason(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 4 && e instanceof Error && e.cause instanceof Error; i++) e = e.cause;
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return 'no complete answer in time';
  return e instanceof Error ? e.message : String(e);
}

/** Versions whose build (or absence of one) the registry remembers; the least recently used go first. */
const KNOWN_VERSIONS = 10_000;

export class BuildRegistry {
  readonly #lock = new KeyedLock();
  readonly #now: () => number;
  readonly #log: Logger;
  /** Each version's build as last read or written (null: none registered), most recently used last. */
  readonly #known = new Map<string, AppBuildRow | null>();
  /** Bumped around every write of a row: a read that overlapped one is not remembered (it may be the old row). */
  #writes = 0;

  constructor(
    private readonly store: BuildStore,
    readonly blobs: BlobStore,
    private readonly opts: BuildRegistryOptions,
  ) {
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log === undefined ? silentLogger() : toLogger(opts.log, 'coordinator');
  }

  get maxBuildBytes(): number {
    return this.opts.maxBuildBytes;
  }

  /** The version's build, or null. */
  async find(appVersionId: string): Promise<AppBuildRow | null> {
    const known = this.#known.get(appVersionId);
    if (known !== undefined) {
      // Most recently used last, so the oldest entry is the one to drop.
      this.#known.delete(appVersionId);
      this.#known.set(appVersionId, known);
      return known;
    }
    const writes = this.#writes;
    const row = await this.store.get(appVersionId);
    if (writes === this.#writes) this.#remember(appVersionId, row);
    return row;
  }

  #remember(appVersionId: string, row: AppBuildRow | null): void {
    this.#known.delete(appVersionId);
    this.#known.set(appVersionId, row);
    if (this.#known.size > KNOWN_VERSIONS) this.#known.delete(this.#known.keys().next().value!);
  }

  /** The version's build. Errors: build_not_found. */
  async get(appVersionId: string): Promise<AppBuildRow> {
    const row = await this.find(appVersionId);
    if (!row) throw new QgError('build_not_found', `no build is registered for app_version_id ${appVersionId} (upload one with qgjob app upload)`);
    return row;
  }

  /**
   * upload: makes the received bytes (`blob`, fully written) the version's build. Inputs: the
   * form's fields, the file name and the blob. Output: the row and what happened (`unchanged` for
   * the same bytes again, `replaced` for new bytes under the same version). The bytes are durable
   * on disk before the row is written, and the row before this resolves. Errors: store_unavailable.
   * @example const r = await registry.registerUpload({ app_version_id: 'v1', platform: 'android', fileName: 'app.apk' }, blob);
   */
  async registerUpload(fields: AppUploadFields & { fileName: string }, blob: BlobWriter): Promise<Registered> {
    const { sha256, sizeBytes } = await blob.seal();
    const row: AppBuildRow = {
      appVersionId: fields.app_version_id,
      platform: fields.platform,
      sha256,
      sizeBytes,
      fileName: fields.fileName,
      source: 'upload',
      url: null,
      createdAtMs: this.#now(),
    };
    // Placing the bytes even when unchanged restores a file that went missing from the data folder.
    return this.#commit(row, () => blob.commit());
  }

  /**
   * register by URL: reads the URL once (hashing, bounded by maxBuildBytes) and makes it the
   * version's build. Errors: validation_failed (no usable file name, the URL cannot be read or
   * answers an error, the bytes do not match `sha256`), payload_too_large, store_unavailable.
   */
  async registerUrl(reg: AppUrlRegistration, signal?: AbortSignal): Promise<Registered> {
    const fileName = reg.file_name ?? this.#fileNameOf(reg.url);
    const { sha256, sizeBytes } = await this.#hashUrl(reg.url, signal);
    if (reg.sha256 && reg.sha256 !== sha256) {
      throw new QgError('validation_failed', `the bytes at url have sha256 ${sha256}, not the sha256 given`, { sha256: `does not match the bytes at url (${sha256})` });
    }
    const row: AppBuildRow = {
      appVersionId: reg.app_version_id,
      platform: reg.platform,
      sha256,
      sizeBytes,
      fileName,
      source: 'url',
      url: reg.url,
      createdAtMs: this.#now(),
    };
    return this.#commit(row, async () => {});
  }

  /**
   * Where to get a build's bytes. With `sha256`, only while the version still has that build.
   * Errors: build_not_found (unknown version, replaced build, or bytes missing from the data folder).
   */
  async download(appVersionId: string, sha256?: string): Promise<Download> {
    const row = await this.get(appVersionId);
    if (sha256 !== undefined && sha256 !== row.sha256) {
      throw new QgError('build_not_found', `app_version_id ${appVersionId} no longer has build ${sha256}: it was replaced by ${row.sha256}`);
    }
    if (row.source === 'url' && row.url) return { kind: 'redirect', row, url: row.url };
    const path = this.blobs.path(row.sha256);
    if ((await this.blobs.sizeOf(row.sha256)) !== Number(row.sizeBytes)) {
      this.#log.error({ app_version_id: appVersionId, sha256: row.sha256 }, `the file of build ${row.sha256} (app_version_id ${appVersionId}) is missing from ${this.blobs.dir}; it must be uploaded again`);
      throw new QgError('build_not_found', `the file of build ${row.sha256} (app_version_id ${appVersionId}) is missing on the coordinator; upload it again`);
    }
    return { kind: 'file', row, path };
  }

  /**
   * The submit rule. `agent`: nothing to check. `registry`: the version must have a build.
   * `auto`: a build is used when there is one. A registered build must be for the job's platform.
   * Errors: build_not_found, validation_failed (platform).
   */
  async checkSubmit(spec: { app_version_id: string; platform: Platform; build: BuildMode }): Promise<void> {
    if (spec.build === 'agent') return;
    const row = await this.find(spec.app_version_id);
    if (!row) {
      if (spec.build === 'registry') {
        throw new QgError(
          'build_not_found',
          `no build is registered for app_version_id ${spec.app_version_id}: upload it first ` +
            `(qgjob app upload --app-version-id ${spec.app_version_id} --platform ${spec.platform} --file <build>), ` +
            `or submit with build "auto" or "agent" to use the build files the agents have`,
        );
      }
      return;
    }
    if (row.platform !== spec.platform) {
      throw new QgError('validation_failed', `app_version_id ${spec.app_version_id} is registered as a ${row.platform} build; the job asks for platform ${spec.platform}`, {
        platform: `must be ${row.platform}: the registered build of ${spec.app_version_id} is for ${row.platform}`,
      });
    }
  }

  /** The build an assignment of this job carries: the version's registered build, or null when the agent provides it. */
  async forDispatch(job: { appVersionId: string; buildMode?: string | null }): Promise<AssignedBuild | null> {
    if (job.buildMode === 'agent') return null;
    const row = await this.find(job.appVersionId);
    if (!row) return null;
    return {
      sha256: row.sha256,
      size_bytes: Number(row.sizeBytes),
      file_name: row.fileName,
      platform: row.platform as Platform,
      download_url: downloadPath(row),
    };
  }

  async #commit(row: AppBuildRow, placeBytes: () => Promise<void>): Promise<Registered> {
    return this.#lock.run('commit', async () => {
      const prev = await this.store.get(row.appVersionId);
      const same =
        prev !== null &&
        prev.sha256 === row.sha256 &&
        prev.platform === row.platform &&
        prev.source === row.source &&
        prev.url === row.url &&
        prev.fileName === row.fileName;
      await placeBytes();
      if (same) return { row: prev, outcome: 'unchanged', previousSha256: null };
      // Forget the version while its row is written (a failed write may still have committed), and
      // keep no read that overlapped the write; remember the new row once it is stored.
      this.#writes++;
      this.#known.delete(row.appVersionId);
      try {
        await this.store.put(row);
      } finally {
        this.#writes++;
        this.#known.delete(row.appVersionId);
      }
      this.#remember(row.appVersionId, row);
      if (prev && prev.sha256 !== row.sha256) await this.#dropIfUnused(prev.sha256);
      this.#log.info(
        { app_version_id: row.appVersionId, sha256: row.sha256 },
        prev
          ? `app_version_id ${row.appVersionId}: build ${prev.sha256.slice(0, 12)} replaced by ${row.sha256.slice(0, 12)} (${row.sizeBytes} bytes, ${row.source})`
          : `app_version_id ${row.appVersionId}: build ${row.sha256.slice(0, 12)} registered (${row.sizeBytes} bytes, ${row.source})`,
      );
      return { row, outcome: prev ? 'replaced' : 'created', previousSha256: prev ? prev.sha256 : null };
    });
  }

  /** Removes bytes no version refers to any more (under the commit lock, so no upload places them meanwhile). */
  async #dropIfUnused(sha256: string): Promise<void> {
    if ((await this.store.countBySha256(sha256)) === 0) await this.blobs.remove(sha256);
  }

  #fileNameOf(url: string): string {
    let name = '';
    try {
      name = decodeURIComponent(basename(new URL(url).pathname));
    } catch {
      name = '';
    }
    const r = BuildFileName.safeParse(name);
    if (!r.success) {
      throw new QgError('validation_failed', `cannot tell the build's file name from the url; give file_name (e.g. app.apk)`, {
        file_name: `is required when the url's path does not end in a build file name (${r.error.issues[0]?.message ?? 'invalid'})`,
      });
    }
    return name;
  }

  /** Reads `url` to its end, hashing; bounded by maxBuildBytes and urlReadTimeoutMs. */
  async #hashUrl(url: string, signal?: AbortSignal): Promise<{ sha256: string; sizeBytes: number }> {
    const timeout = AbortSignal.timeout(this.opts.urlReadTimeoutMs ?? 600_000);
    const bound = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const unreadable = (reason: string, cause?: unknown) =>
      new QgError('validation_failed', `the build at url could not be read: ${reason}`, { url: `could not be read: ${reason}` }, { cause });
    let res: Response;
    try {
      res = await fetch(url, { signal: bound, redirect: 'follow' });
    } catch (err) {
      throw unreadable(fetchReason(err), err);
    }
    const max = this.opts.maxBuildBytes;
    try {
      if (!res.ok || !res.body) throw unreadable(`HTTP ${res.status}`);
      const declared = Number(res.headers.get('content-length') ?? NaN);
      if (declared > max) throw new QgError('payload_too_large', `the build at url is ${declared} bytes, over the limit of ${max} bytes (QGJOB_MAX_BUILD_BYTES)`);
      const hash = createHash('sha256');
      let size = 0;
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          size += chunk.byteLength;
          if (size > max) throw new QgError('payload_too_large', `the build at url is over the limit of ${max} bytes (QGJOB_MAX_BUILD_BYTES)`);
          hash.update(chunk);
        }
      } catch (err) {
        if (err instanceof QgError) throw err;
        throw unreadable(`the answer was cut off (${fetchReason(err)})`, err);
      }
      return { sha256: hash.digest('hex'), sizeBytes: size };
    } finally {
      if (res.body && !res.bodyUsed) await res.body.cancel().catch(() => undefined);
    }
  }
}
