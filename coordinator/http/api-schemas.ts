/**
 * The HTTP API's answers as zod schemas: the source of the OpenAPI document's response shapes, and
 * what tests check real answers against. The TypeScript shapes stay the ones in shared/api.ts;
 * the assertions at the end make `npm run typecheck` fail when a schema and its interface drift.
 */
import { z } from 'zod';
import {
  type AppBuildView,
  type AppUploadReply,
  type AgentView,
  ERROR_CODES,
  type ErrorBody,
  type Health,
  JOB_STATES,
  type JobList,
  type JobView,
  PLATFORMS,
  RUN_STATES,
  type RunList,
  type RunView,
  type SlotView,
  type SubmitRunReply,
  type SubmitReply,
  TARGETS,
  TestCaseResult,
} from '../../shared/index.js';

const timestamp = z.iso.datetime();

export const JobViewSchema = z.object({
  job_id: z.string(),
  org_id: z.string(),
  app_version_id: z.string(),
  test_path: z.string(),
  priority: z.number().int(),
  target: z.enum(TARGETS),
  platform: z.enum(PLATFORMS),
  status: z.enum(JOB_STATES),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  timeout_ms: z.number().int(),
  test_retries: z.number().int(),
  not_before: timestamp.nullable(),
  resubmitted_from: z.string().nullable(),
  run_id: z.string().nullable(),
  attempt_id: z.string().nullable(),
  agent_id: z.string().nullable(),
  slot_id: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
  assigned_at: timestamp.nullable(),
  started_at: timestamp.nullable(),
  finished_at: timestamp.nullable(),
  duration_ms: z.number().int().nullable(),
  installed_build: z.boolean().nullable(),
  error: z.object({ reason: z.string(), message: z.string() }).nullable(),
  test_cases: z.array(TestCaseResult),
  video: z.object({ url: z.string(), platform: z.string().nullable(), timestamp: timestamp.nullable() }).nullable(),
  video_note: z.string().nullable(),
  waiting_reason: z.string().nullable(),
});

export const JobListSchema = z.object({ jobs: z.array(JobViewSchema), next_cursor: z.string().nullable() });

export const SubmitReplySchema = z.object({ job_id: z.string(), status: z.literal('queued') });

export const SlotViewSchema = z.object({
  slot_id: z.string(),
  target: z.enum(TARGETS),
  platform: z.enum(PLATFORMS),
  device_name: z.string(),
  endpoint: z.string(),
  installed_app_version_id: z.string().nullable(),
  state: z.enum(['idle', 'busy', 'offline', 'quarantined', 'draining']),
  health_reason: z.string().nullable(),
  job_id: z.string().nullable(),
  installs: z.number().int(),
});

export const AgentViewSchema = z.object({
  agent_id: z.string(),
  name: z.string(),
  version: z.string(),
  connected: z.boolean(),
  connected_at: timestamp,
  last_seen_at: timestamp,
  slots: z.array(SlotViewSchema),
});

/** `GET /api/v1/agents`. */
export const AgentListSchema = z.object({ agents: z.array(AgentViewSchema) });

export const HealthSchema = z.object({
  ok: z.boolean(),
  version: z.string(),
  database: z.enum(['sqlite', 'mysql']),
  agents: z.number().int(),
  queued: z.number().int(),
});

export const AppBuildViewSchema = z.object({
  app_version_id: z.string(),
  platform: z.enum(PLATFORMS),
  sha256: z.string(),
  size_bytes: z.number().int(),
  file_name: z.string(),
  source: z.enum(['upload', 'url']),
  url: z.string().nullable(),
  download_url: z.string(),
  created_at: timestamp,
});

export const AppUploadReplySchema = AppBuildViewSchema.extend({
  outcome: z.enum(['created', 'unchanged', 'replaced']),
  previous_sha256: z.string().nullable(),
});

/** `PUT /api/v1/jobs/:id/video` (the agent's upload of a session video). */
export const VideoUploadReplySchema = z.object({ url: z.string(), size_bytes: z.number().int(), content_type: z.string() });

/** `GET /api/v1/runs/:id` (shared/run.ts; the routes come with the runs API). */
export const RunViewSchema = z.object({
  run_id: z.string(),
  org_id: z.string(),
  app_version_id: z.string(),
  name: z.string().nullable(),
  idempotency_key: z.string().nullable(),
  rerun_of: z.string().nullable(),
  status: z.enum(RUN_STATES),
  total: z.number().int(),
  done: z.number().int(),
  counts: z.record(z.enum(JOB_STATES), z.number().int()),
  created_at: timestamp,
  finished_at: timestamp.nullable(),
  duration_ms: z.number().int().nullable(),
  jobs: z.array(JobViewSchema),
});

export const RunListSchema = z.object({ runs: z.array(RunViewSchema), next_cursor: z.string().nullable() });

export const SubmitRunReplySchema = z.object({
  run_id: z.string(),
  created: z.boolean(),
  jobs: z.array(z.object({ job_id: z.string(), test_path: z.string() })),
});

export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    fields: z.record(z.string(), z.string()).optional(),
  }),
});

// Drift check: each schema's output type and its shared/api.ts interface must be assignable both
// ways; a field added, removed or retyped on one side only fails `npm run typecheck` here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Holds<T extends true> = T;
export type ResponseSchemasMatchTheirInterfaces = [
  Holds<Same<z.output<typeof JobViewSchema>, JobView>>,
  Holds<Same<z.output<typeof JobListSchema>, JobList>>,
  Holds<Same<z.output<typeof SubmitReplySchema>, SubmitReply>>,
  Holds<Same<z.output<typeof SlotViewSchema>, SlotView>>,
  Holds<Same<z.output<typeof AgentViewSchema>, AgentView>>,
  Holds<Same<z.output<typeof HealthSchema>, Health>>,
  Holds<Same<z.output<typeof AppBuildViewSchema>, AppBuildView>>,
  Holds<Same<z.output<typeof AppUploadReplySchema>, AppUploadReply>>,
  Holds<Same<z.output<typeof RunViewSchema>, RunView>>,
  Holds<Same<z.output<typeof RunListSchema>, RunList>>,
  Holds<Same<z.output<typeof SubmitRunReplySchema>, SubmitRunReply>>,
  Holds<Same<z.output<typeof ErrorBodySchema>, ErrorBody>>,
];
