/** The store room: MikroORM entities and the guarded-transition store. */
export { JobStore, type Guard, type JobFilter, type JobStoreOptions, type StoredEvent } from './job-store.js';
export type { GroupCommitStats } from './group-commit.js';
export { isStoreUnavailable, parseDatabaseUrl, redact, type DatabaseConfig } from './database-url.js';
export { BuildStore } from './build-store.js';
export { RunStore, type RunFilter } from './run-store.js';
export type { AppBuildRow, JobRow, JobEventRow, LogChunkRow, RunRow, TestCaseRow, VideoResultRow } from './entities.js';
