/**
 * MikroORM entity schemas: one definition for SQLite and MySQL. Column names are snake_case.
 * `video_results` is exactly the product owner's table (PRODUCT.md).
 */
import { BigIntType, EntitySchema } from '@mikro-orm/core';

export interface JobRow {
  id: string;
  orgId: string;
  appVersionId: string;
  testPath: string;
  priority: number;
  target: string;
  platform: string;
  status: string;
  attempts: number;
  maxAttempts: number;
  attemptId: string | null;
  agentId: string | null;
  slotId: string | null;
  /** Slots (agent/slot keys) where an earlier attempt broke, comma-separated. */
  avoidSlots: string;
  createdAtMs: number;
  updatedAtMs: number;
  assignedAtMs: number | null;
  startedAtMs: number | null;
  finishedAtMs: number | null;
  durationMs: number | null;
  installedBuild: boolean | null;
  errorReason: string | null;
  errorMessage: string | null;
  videoNote: string | null;
  /** Highest event id given to this job (state changes, log chunks, installs share one sequence). */
  lastEventId: number;
  timeoutMs: number;
  testRetries: number;
  /** Backoff after an infrastructure error: not dispatched before this time. */
  notBeforeMs: number | null;
  /** When the running attempt times out (startedAt + timeout). */
  deadlineMs: number | null;
  resubmittedFrom: string | null;
  /** Where the agent gets the build (JobSpec `build`: auto | registry | agent). Column default `auto`. */
  buildMode?: string;
  /** The run the job belongs to (`runs.id`), if any. */
  runId?: string | null;
  /** The job's place in its run's `tests` (from 0); null outside a run. */
  runPosition?: number | null;
}

export const JobEntity = new EntitySchema<JobRow>({
  name: 'Job',
  tableName: 'jobs',
  indexes: [
    { properties: ['status'] },
    { properties: ['orgId', 'id'] },
    { properties: ['appVersionId', 'id'] },
    { properties: ['runId', 'runPosition'] },
  ],
  properties: {
    id: { type: 'string', primary: true, length: 64 },
    orgId: { type: 'string', length: 255 },
    appVersionId: { type: 'string', length: 255 },
    testPath: { type: 'string', length: 1024 },
    priority: { type: 'integer' },
    target: { type: 'string', length: 32 },
    platform: { type: 'string', length: 32 },
    status: { type: 'string', length: 32 },
    attempts: { type: 'integer' },
    maxAttempts: { type: 'integer' },
    attemptId: { type: 'string', length: 128, nullable: true },
    agentId: { type: 'string', length: 255, nullable: true },
    slotId: { type: 'string', length: 255, nullable: true },
    avoidSlots: { type: 'text' },
    createdAtMs: { type: new BigIntType('number') },
    updatedAtMs: { type: new BigIntType('number') },
    assignedAtMs: { type: new BigIntType('number'), nullable: true },
    startedAtMs: { type: new BigIntType('number'), nullable: true },
    finishedAtMs: { type: new BigIntType('number'), nullable: true },
    durationMs: { type: 'integer', nullable: true },
    installedBuild: { type: 'boolean', nullable: true },
    errorReason: { type: 'string', length: 64, nullable: true },
    errorMessage: { type: 'text', nullable: true },
    videoNote: { type: 'text', nullable: true },
    lastEventId: { type: 'integer' },
    timeoutMs: { type: 'integer', default: 1_800_000 },
    testRetries: { type: 'integer', default: 0 },
    notBeforeMs: { type: new BigIntType('number'), nullable: true },
    deadlineMs: { type: new BigIntType('number'), nullable: true },
    resubmittedFrom: { type: 'string', length: 64, nullable: true },
    buildMode: { type: 'string', length: 16, default: 'auto' },
    runId: { type: 'string', length: 64, nullable: true },
    runPosition: { type: 'integer', nullable: true },
  },
});

/** A job event other than a log chunk: state changes and installs. Data is JSON. */
export interface JobEventRow {
  id?: number;
  jobId: string;
  eventId: number;
  type: string;
  attempt: number;
  data: string;
  atMs: number;
}

export const JobEventEntity = new EntitySchema<JobEventRow>({
  name: 'JobEvent',
  tableName: 'job_events',
  uniques: [{ properties: ['jobId', 'eventId'] }],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    jobId: { type: 'string', length: 64 },
    eventId: { type: 'integer' },
    type: { type: 'string', length: 16 },
    attempt: { type: 'integer' },
    data: { type: 'text' },
    atMs: { type: new BigIntType('number') },
  },
});

/** A chunk of log lines as the agent sent it; `seq` counts an attempt's chunks from 0. */
export interface LogChunkRow {
  id?: number;
  jobId: string;
  attemptId: string;
  attempt: number;
  seq: number;
  eventId: number;
  /** JSON array of LogLine. */
  lines: string;
  atMs: number;
}

export const LogChunkEntity = new EntitySchema<LogChunkRow>({
  name: 'LogChunk',
  tableName: 'log_chunks',
  uniques: [{ properties: ['jobId', 'eventId'] }, { properties: ['attemptId', 'seq'] }],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    jobId: { type: 'string', length: 64 },
    attemptId: { type: 'string', length: 128 },
    attempt: { type: 'integer' },
    seq: { type: 'integer' },
    eventId: { type: 'integer' },
    lines: { type: 'text', columnType: 'mediumtext' },
    atMs: { type: new BigIntType('number') },
  },
});

export interface TestCaseRow {
  id?: number;
  jobId: string;
  attempt: number;
  position: number;
  title: string;
  fullTitle: string;
  status: string;
  durationMs: number;
  errorMessage: string | null;
  retry: number;
}

export const TestCaseEntity = new EntitySchema<TestCaseRow>({
  name: 'TestCase',
  tableName: 'test_cases',
  indexes: [{ properties: ['jobId', 'position'] }],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    jobId: { type: 'string', length: 64 },
    attempt: { type: 'integer' },
    position: { type: 'integer' },
    title: { type: 'text' },
    fullTitle: { type: 'text' },
    status: { type: 'string', length: 16 },
    durationMs: { type: 'integer' },
    errorMessage: { type: 'text', nullable: true },
    retry: { type: 'integer' },
  },
});

/** The product owner's table, column for column. */
export interface VideoResultRow {
  jobId: string;
  platform: string | null;
  videoUrl: string | null;
  timestamp: Date | null;
}

export const VideoResultEntity = new EntitySchema<VideoResultRow>({
  name: 'VideoResult',
  tableName: 'video_results',
  properties: {
    jobId: { type: 'string', primary: true, length: 255, fieldName: 'job_id' },
    platform: { type: 'string', length: 50, nullable: true },
    videoUrl: { type: 'text', nullable: true, fieldName: 'video_url' },
    timestamp: { type: 'datetime', nullable: true, columnType: 'datetime' },
  },
});

/**
 * The build registry: one build per app version. The bytes of an uploaded build live in the
 * coordinator's data folder under `builds/<sha256>`; a build registered by URL only has `url`.
 */
export interface AppBuildRow {
  appVersionId: string;
  platform: string;
  sha256: string;
  sizeBytes: number;
  fileName: string;
  /** `upload` | `url` */
  source: string;
  url: string | null;
  createdAtMs: number;
}

export const AppBuildEntity = new EntitySchema<AppBuildRow>({
  name: 'AppBuild',
  tableName: 'app_builds',
  indexes: [{ properties: ['sha256'] }],
  properties: {
    appVersionId: { type: 'string', primary: true, length: 255 },
    platform: { type: 'string', length: 32 },
    sha256: { type: 'string', length: 64 },
    sizeBytes: { type: new BigIntType('number') },
    fileName: { type: 'string', length: 255 },
    source: { type: 'string', length: 16 },
    url: { type: 'text', nullable: true },
    createdAtMs: { type: new BigIntType('number') },
  },
});

/**
 * A run: a suite submitted as one unit. Its jobs point at it (`jobs.run_id`, ordered by
 * `run_position`); its status is derived from theirs, never stored. `idempotency_key` is unique per
 * org (NULLs never collide), which is what makes concurrent resubmissions of one CI attempt create
 * one run.
 */
export interface RunRow {
  id: string;
  orgId: string;
  appVersionId: string;
  name: string | null;
  idempotencyKey: string | null;
  rerunOf: string | null;
  /** The job fields every job of the run shares (RunSpec without tests, name, key), as JSON. */
  jobSpec: string;
  total: number;
  createdAtMs: number;
}

export const RunEntity = new EntitySchema<RunRow>({
  name: 'Run',
  tableName: 'runs',
  uniques: [{ properties: ['orgId', 'idempotencyKey'] }],
  indexes: [{ properties: ['orgId', 'id'] }],
  properties: {
    id: { type: 'string', primary: true, length: 64 },
    orgId: { type: 'string', length: 255 },
    appVersionId: { type: 'string', length: 255 },
    name: { type: 'string', length: 255, nullable: true },
    idempotencyKey: { type: 'string', length: 255, nullable: true },
    rerunOf: { type: 'string', length: 64, nullable: true },
    jobSpec: { type: 'text' },
    total: { type: 'integer' },
    createdAtMs: { type: new BigIntType('number') },
  },
});

export const ENTITIES = [JobEntity, JobEventEntity, LogChunkEntity, TestCaseEntity, VideoResultEntity, AppBuildEntity, RunEntity];
