/**
 * The build registry's rows (`app_builds`): one build per app version, on the job store's
 * connection. The bytes are not here: BlobStore keeps them by sha256.
 */
import type { EntityManager } from '@mikro-orm/core';
import { AppBuildEntity, type AppBuildRow } from './entities.js';

export class BuildStore {
  /** @param em a fresh EntityManager per call, e.g. `() => jobStore.entityManager()` */
  constructor(private readonly em: () => EntityManager) {}

  async get(appVersionId: string): Promise<AppBuildRow | null> {
    return this.em().findOne(AppBuildEntity, { appVersionId });
  }

  /**
   * Stores `row` as its version's build, replacing the one it had (delete and insert in one
   * transaction: the version never has zero or two builds to a reader).
   */
  async put(row: AppBuildRow): Promise<void> {
    await this.em().transactional(async (em) => {
      await em.nativeDelete(AppBuildEntity, { appVersionId: row.appVersionId });
      await em.insert(AppBuildEntity, row);
    });
  }

  /** How many versions have the build with this sha256 (its bytes may be removed at 0). */
  async countBySha256(sha256: string): Promise<number> {
    return this.em().count(AppBuildEntity, { sha256 });
  }
}
