/**
 * The build files this agent installs, by app_version_id (AgentOptions.apps; `*` for any other
 * version), each with its sha256, so a device is compared by the build's bytes, not its version
 * string: a rebuilt binary under the same version is installed again. Hashes are cached per
 * (path, size, mtime).
 */
import { access, stat } from 'node:fs/promises';
import { sha256File } from '../cloud/browserstack.js';

export interface BuildFile {
  path: string;
  sha256: string;
}

export class LocalBuilds {
  readonly #hashes = new Map<string, { key: string; sha256: string }>();

  constructor(private readonly apps: Record<string, string>) {}

  /** The build file for a version and its hash; throws with a clear message when there is none. */
  async resolve(appVersionId: string): Promise<BuildFile> {
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
    if (known && known.key === key) return { path, sha256: known.sha256 };
    const sha256 = await sha256File(path);
    this.#hashes.set(path, { key, sha256 });
    return { path, sha256 };
  }
}
