/**
 * The build file a job installs, with its sha256, so a device is compared by the build's bytes,
 * not its version string: a rebuilt binary under the same version is installed again.
 * A build from the coordinator's registry (the assignment names it) comes through the agent's
 * download cache; otherwise the agent's own files (AgentOptions.apps; `*` for any other version)
 * are used, their hashes cached per (path, size, mtime).
 */
import { access, stat } from 'node:fs/promises';
import type { AssignedBuild } from '../../shared/index.js';
import { sha256File } from '../cloud/browserstack.js';
import type { BuildCache } from './build-cache.js';

export interface BuildFile {
  path: string;
  sha256: string;
  /** Lets the cache evict the file again (call once the build is installed or uploaded). */
  release(): void;
}

export class LocalBuilds {
  readonly #hashes = new Map<string, { key: string; sha256: string }>();

  constructor(
    private readonly apps: Record<string, string>,
    private readonly cache: BuildCache | null = null,
  ) {}

  /** The build file for a job and its hash; throws with a clear message when there is none. */
  async resolve(appVersionId: string, registered: AssignedBuild | null = null): Promise<BuildFile> {
    if (registered && this.cache) {
      const lease = await this.cache.acquire(registered);
      return { path: lease.path, sha256: lease.sha256, release: () => lease.release() };
    }
    const path = this.apps[appVersionId] ?? this.apps['*'];
    if (!path) throw new Error(`this agent has no build for app_version_id ${appVersionId} (configure "apps" or --app, or upload it with qgjob app upload)`);
    try {
      await access(path);
    } catch {
      throw new Error(`the build file for app_version_id ${appVersionId} does not exist: ${path}`);
    }
    const st = await stat(path);
    const key = `${st.size}:${st.mtimeMs}`;
    const known = this.#hashes.get(path);
    if (known && known.key === key) return { path, sha256: known.sha256, release: () => {} };
    const sha256 = await sha256File(path);
    this.#hashes.set(path, { key, sha256 });
    return { path, sha256, release: () => {} };
  }
}
