/**
 * Build files on the coordinator's disk, one per sha256: `<dir>/<sha256>`. A new file is written
 * to `<dir>/tmp/`, hashed while it streams in, fsynced, and only then renamed into place (and the
 * folder fsynced), so a file under its hash is always complete and durable. Identical bytes are
 * stored once.
 */
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { QgError } from '../../shared/index.js';

/** fsync of a folder, so a rename in it survives a crash. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class BlobStore {
  readonly #tmpDir: string;
  #seq = 0;

  private constructor(readonly dir: string) {
    this.#tmpDir = join(dir, 'tmp');
  }

  /**
   * Opens (creating) the folder and removes partial files a crash left behind.
   * @example const blobs = await BlobStore.open('.qgjob/builds');
   */
  static async open(dir: string): Promise<BlobStore> {
    const store = new BlobStore(dir);
    await mkdir(store.#tmpDir, { recursive: true });
    for (const f of await readdir(store.#tmpDir)) await rm(join(store.#tmpDir, f), { force: true });
    return store;
  }

  /** Where the bytes with this hash are (or would be). */
  path(sha256: string): string {
    return join(this.dir, sha256);
  }

  /** The size of the stored file, or null when there is none. */
  async sizeOf(sha256: string): Promise<number | null> {
    try {
      return (await stat(this.path(sha256))).size;
    } catch {
      return null;
    }
  }

  /** Starts a new file; over `maxBytes` bytes, `write` throws `payload_too_large`. */
  async create(maxBytes: number): Promise<BlobWriter> {
    const tmp = join(this.#tmpDir, `${process.pid}-${Date.now()}-${++this.#seq}`);
    const fh = await open(tmp, 'wx');
    return new BlobWriter(this, fh, tmp, maxBytes);
  }

  /** Removes the file with this hash, if any. */
  async remove(sha256: string): Promise<void> {
    await rm(this.path(sha256), { force: true });
  }

  /** @internal Moves a sealed temp file under its hash (or drops it when those bytes are already stored). */
  async place(tmp: string, sha256: string, sizeBytes: number): Promise<void> {
    if ((await this.sizeOf(sha256)) === sizeBytes) {
      await rm(tmp, { force: true });
      return;
    }
    await rename(tmp, this.path(sha256));
    await syncDir(this.dir);
  }
}

/**
 * One file being written: `write` each chunk (hashed on the way), `seal` when the bytes are all
 * there (fsync; the hash is known), then `commit` (placed under its hash) or `discard`.
 */
export class BlobWriter {
  #hash: Hash = createHash('sha256');
  #bytes = 0;
  #state: 'open' | 'sealed' | 'done' = 'open';
  #sealed: { sha256: string; sizeBytes: number } | null = null;

  constructor(
    private readonly store: BlobStore,
    private readonly fh: FileHandle,
    private readonly tmp: string,
    private readonly maxBytes: number,
  ) {}

  get bytes(): number {
    return this.#bytes;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'open') throw new Error('BlobWriter.write after seal');
    if (this.#bytes + chunk.byteLength > this.maxBytes) {
      throw new QgError('payload_too_large', `the build is over the limit of ${this.maxBytes} bytes (the coordinator's QGJOB_MAX_BUILD_BYTES)`);
    }
    this.#hash.update(chunk);
    this.#bytes += chunk.byteLength;
    let off = 0;
    while (off < chunk.byteLength) {
      const { bytesWritten } = await this.fh.write(chunk, off, chunk.byteLength - off);
      off += bytesWritten;
    }
  }

  /** All bytes are written: flushes them to disk and returns their hash and size. */
  async seal(): Promise<{ sha256: string; sizeBytes: number }> {
    if (this.#sealed) return this.#sealed;
    await this.fh.sync();
    await this.fh.close();
    this.#state = 'sealed';
    this.#sealed = { sha256: this.#hash.digest('hex'), sizeBytes: this.#bytes };
    return this.#sealed;
  }

  /** Places the sealed file under its hash: durable once this resolves. */
  async commit(): Promise<void> {
    const sealed = await this.seal();
    if (this.#state === 'done') return;
    await this.store.place(this.tmp, sealed.sha256, sealed.sizeBytes);
    this.#state = 'done';
  }

  /** Drops the temp file (no-op after commit). */
  async discard(): Promise<void> {
    if (this.#state === 'done') return;
    if (this.#state === 'open') await this.fh.close().catch(() => undefined);
    this.#state = 'done';
    await rm(this.tmp, { force: true });
  }
}
