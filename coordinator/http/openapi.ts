/**
 * The OpenAPI 3.1 document of the HTTP API, served at `GET /api/v1/openapi.json`. It is built from
 * a table of routes (`apiRoutes()`) whose request and response shapes are the zod schemas the code
 * validates with (shared/) and answers with (./api-schemas.ts), turned into JSON Schema by zod's
 * `z.toJSONSchema`. A test holds the table and the Hono app's routes equal, so a route added to
 * the app without a row here (or the reverse) fails the suite.
 *
 * To describe a new route: add its answer schemas to `RESPONSE_SCHEMAS` (named components) and
 * one row to `apiRoutes()`; routes kept out of the document on purpose go to `UNDOCUMENTED_ROUTES`.
 */
import { z } from 'zod';
import { AppUploadFields, AppUrlRegistration, JobSpec, RerunSpec, RunSpec, Sha256 } from '../../shared/index.js';
import {
  AgentListSchema,
  AgentViewSchema,
  AppBuildViewSchema,
  AppUploadReplySchema,
  ErrorBodySchema,
  HealthSchema,
  JobListSchema,
  JobViewSchema,
  RunListSchema,
  RunViewSchema,
  SlotViewSchema,
  SubmitReplySchema,
  SubmitRunReplySchema,
  VideoUploadReplySchema,
} from './api-schemas.js';
import { ListQuery } from './app.js';
import { RunListQuery } from './runs.js';

/** A JSON Schema written by hand (for what zod does not describe: files, free text). */
type JsonSchema = Record<string, unknown>;

/** An answer of a route: a description and, per content type, its body (a zod schema or a JSON Schema). */
export interface ApiReply {
  description: string;
  content?: Record<string, z.ZodType | JsonSchema>;
  /** Response headers worth naming (e.g. `Location`), with their descriptions. */
  headers?: Record<string, string>;
}

/** One operation of the HTTP API. */
export interface ApiRoute {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** The path as Hono registers it: `:name` for a path parameter, e.g. `/api/v1/jobs/:id`. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /** Descriptions of the path parameters (each `:name` is a string parameter). */
  params?: Record<string, string>;
  /** The query string, as the route validates it (documented as it is accepted: io `input`). */
  query?: z.ZodObject;
  /** The request body per content type (documented as accepted: defaults make fields optional). */
  body?: Record<string, z.ZodType | JsonSchema>;
  /** Answers by HTTP status. Every operation also gets `default`: an ErrorBody (500 internal, 503 store_unavailable). */
  responses: Record<number, ApiReply>;
}

/** Answer schemas published as named components (`#/components/schemas/<name>`) and referenced by routes. */
export const RESPONSE_SCHEMAS: Record<string, z.ZodType> = {
  JobView: JobViewSchema,
  JobList: JobListSchema,
  SubmitReply: SubmitReplySchema,
  SlotView: SlotViewSchema,
  AgentView: AgentViewSchema,
  AgentList: AgentListSchema,
  Health: HealthSchema,
  AppBuildView: AppBuildViewSchema,
  AppUploadReply: AppUploadReplySchema,
  VideoUploadReply: VideoUploadReplySchema,
  RunView: RunViewSchema,
  RunList: RunListSchema,
  SubmitRunReply: SubmitRunReplySchema,
  ErrorBody: ErrorBodySchema,
};

const json = (schema: z.ZodType | JsonSchema) => ({ 'application/json': schema });
const ok = (description: string, schema: z.ZodType | JsonSchema): ApiReply => ({ description, content: json(schema) });
/** An error answer: `{error:{code, message, fields?}}` with the codes it may carry. */
const error = (codes: string): ApiReply => ({ description: `Error: ${codes}.`, content: json(ErrorBodySchema) });
const binary = (mediaType = 'application/octet-stream'): JsonSchema => ({ type: 'string', contentMediaType: mediaType });
const jobId = { id: 'The job id (`job_…`).' };
const runId = { id: 'The run id (`run_…`).' };
const created = { Location: 'The URL of the new resource.' };

/** The multipart upload of a build: its text fields (AppUploadFields) and the file. */
const uploadForm = (): JsonSchema => {
  const fields = strip(z.toJSONSchema(AppUploadFields, { io: 'input' })) as { properties: JsonSchema; required?: string[] };
  return { ...fields, properties: { ...fields.properties, file: binary() }, required: [...(fields.required ?? []), 'file'] };
};

/**
 * Every documented route of the coordinator's HTTP API. A function, not a constant: app.ts (which
 * holds ListQuery) imports this module, so the table is built on first use, not at import.
 */
export const apiRoutes = (): ApiRoute[] => [
  {
    method: 'get', path: '/healthz', operationId: 'health', tag: 'operations',
    summary: 'Liveness and the database: 200 when it answers, 503 when it does not.',
    responses: { 200: ok('The coordinator and its database are up.', HealthSchema), 503: ok('The database does not answer.', HealthSchema) },
  },
  {
    method: 'get', path: '/metrics', operationId: 'metrics', tag: 'operations',
    summary: 'Prometheus metrics (text exposition format 0.0.4); see the README for the list.',
    responses: { 200: { description: 'Every metric.', content: { 'text/plain; version=0.0.4; charset=utf-8': { type: 'string' } } } },
  },
  {
    method: 'get', path: '/api/v1/openapi.json', operationId: 'openapi', tag: 'operations',
    summary: 'This document.',
    responses: { 200: ok('The OpenAPI 3.1 document of the HTTP API.', { type: 'object' }) },
  },
  {
    method: 'post', path: '/api/v1/jobs', operationId: 'submitJob', tag: 'jobs',
    summary: 'Submit a job: answered once it is stored, then it waits in its app version’s queue.',
    body: json(JobSpec),
    responses: {
      201: { ...ok('The job was stored and queued.', SubmitReplySchema), headers: created },
      400: error('validation_failed (with fields), invalid_json'),
      404: error('build_not_found (build `registry` and no build registered for the app_version_id)'),
      413: error('payload_too_large (over 64 KiB)'),
    },
  },
  {
    method: 'get', path: '/api/v1/jobs', operationId: 'listJobs', tag: 'jobs',
    summary: 'A page of jobs, newest first, filtered by org, status and app version.',
    query: ListQuery,
    responses: { 200: ok('The page; pass next_cursor as cursor for the next one.', JobListSchema), 400: error('validation_failed') },
  },
  {
    method: 'get', path: '/api/v1/jobs/:id', operationId: 'getJob', tag: 'jobs', params: jobId,
    summary: 'A job: state, attempts, agent and slot, times, result, test cases, video, why it waits.',
    responses: { 200: ok('The job.', JobViewSchema), 404: error('job_not_found') },
  },
  {
    method: 'post', path: '/api/v1/jobs/:id/cancel', operationId: 'cancelJob', tag: 'jobs', params: jobId,
    summary: 'Cancel a queued or running job (its agent is told to stop it).',
    responses: { 200: ok('The cancelled job.', JobViewSchema), 404: error('job_not_found'), 409: error('illegal_transition (the job already ended)') },
  },
  {
    method: 'post', path: '/api/v1/jobs/:id/resubmit', operationId: 'resubmitJob', tag: 'jobs', params: jobId,
    summary: 'Submit an ended job again as a new job with the same spec.',
    responses: {
      201: { ...ok('The new job was stored and queued.', SubmitReplySchema), headers: created },
      404: error('job_not_found'),
      409: error('illegal_transition (the job has not ended)'),
    },
  },
  {
    method: 'put', path: '/api/v1/jobs/:id/video', operationId: 'uploadVideo', tag: 'agents', params: jobId,
    summary: 'An agent uploads the session video of the job’s current attempt.',
    query: z.object({ attempt_id: z.string().describe('The attempt the video belongs to: only the current attempt may upload.') }),
    body: { 'video/mp4': binary('video/mp4'), 'video/webm': binary('video/webm'), 'image/png': binary('image/png'), 'image/gif': binary('image/gif') },
    responses: {
      201: ok('Stored; `url` is where it is served (and what the job shows).', VideoUploadReplySchema),
      400: error('validation_failed (unsupported content type, no body)'),
      404: error('job_not_found (the job is not running)'),
      409: error('stale_attempt'),
      413: error('payload_too_large'),
    },
  },
  {
    method: 'get', path: '/videos/:file', operationId: 'getVideo', tag: 'jobs', params: { file: '`<job_id>.<ext>`, as in the job’s video.url.' },
    summary: 'A stored session video.',
    responses: {
      200: { description: 'The file.', content: { 'video/mp4': binary('video/mp4'), 'video/webm': binary('video/webm'), 'image/png': binary('image/png'), 'image/gif': binary('image/gif') } },
      404: error('not_found'),
    },
  },
  {
    method: 'get', path: '/api/v1/agents', operationId: 'listAgents', tag: 'agents',
    summary: 'Agents the coordinator knows, with their slots and what each slot holds.',
    responses: { 200: ok('The fleet.', AgentListSchema) },
  },
  {
    method: 'post', path: '/api/v1/apps', operationId: 'registerBuild', tag: 'builds',
    summary: 'Register an app build: upload its file (multipart) or register a URL (JSON).',
    description: 'Answered once the bytes are on disk and the row committed. Re-uploading the same bytes is idempotent (200 `unchanged`).',
    body: { 'multipart/form-data': uploadForm(), 'application/json': AppUrlRegistration },
    responses: {
      201: { ...ok('The version got this build (`created` or `replaced`).', AppUploadReplySchema), headers: created },
      200: ok('The version already had exactly this build (`unchanged`).', AppUploadReplySchema),
      400: error('validation_failed (with fields), invalid_json'),
      413: error('payload_too_large (over QGJOB_MAX_BUILD_BYTES)'),
    },
  },
  {
    method: 'get', path: '/api/v1/apps/:app_version_id', operationId: 'getBuild', tag: 'builds', params: { app_version_id: 'The app version.' },
    summary: 'The build registered for an app version.',
    responses: { 200: ok('The build.', AppBuildViewSchema), 404: error('build_not_found') },
  },
  {
    method: 'get', path: '/api/v1/apps/:app_version_id/download', operationId: 'downloadBuild', tag: 'builds', params: { app_version_id: 'The app version.' },
    summary: 'The build’s bytes, or a redirect to its registered URL.',
    query: z.object({ sha256: Sha256.optional().describe('Only while the version still has this build (agents always pass it).') }),
    responses: {
      200: { description: 'The file (an uploaded build).', content: { 'application/octet-stream': binary() } },
      302: { description: 'A redirect to the registered URL (a build registered by URL).', headers: { Location: 'The registered URL.' } },
      400: error('validation_failed (sha256)'),
      404: error('build_not_found (unknown version, replaced build, or bytes missing on the coordinator)'),
    },
  },
  {
    method: 'post', path: '/api/v1/runs', operationId: 'submitRun', tag: 'runs',
    summary: 'Submit a run: several spec files as one unit, one job each, stored in one transaction.',
    description: 'With `idempotency_key`, submitting the same payload again returns the run it created (200, `created: false`); the same key with another payload is 409 `idempotency_conflict`.',
    body: json(RunSpec),
    responses: {
      201: { ...ok('The run and all its jobs were stored and queued.', SubmitRunReplySchema), headers: created },
      200: { ...ok('The idempotency key named a run with this payload: that run.', SubmitRunReplySchema), headers: created },
      400: error('validation_failed (with fields), invalid_json'),
      403: error('forbidden (a token of another org)'),
      404: error('build_not_found (build `registry` and no build registered for the app_version_id)'),
      409: error('idempotency_conflict'),
      413: error('payload_too_large'),
    },
  },
  {
    method: 'get', path: '/api/v1/runs', operationId: 'listRuns', tag: 'runs',
    summary: 'A page of runs, newest first, filtered by org and run status.',
    query: RunListQuery,
    responses: { 200: ok('The page; pass next_cursor as cursor for the next one.', RunListSchema), 400: error('validation_failed'), 403: error('forbidden (org_id of another org)') },
  },
  {
    method: 'get', path: '/api/v1/runs/:id', operationId: 'getRun', tag: 'runs', params: runId,
    summary: 'A run: its status (from its jobs), counts per job state and every job in test order.',
    responses: { 200: ok('The run.', RunViewSchema), 404: error('run_not_found') },
  },
  {
    method: 'post', path: '/api/v1/runs/:id/rerun', operationId: 'rerunRun', tag: 'runs', params: runId,
    summary: 'Submit the jobs of an ended run that did not pass (or all of them) again, as a new run.',
    body: json(RerunSpec),
    responses: {
      201: { ...ok('The new run was stored and queued.', SubmitRunReplySchema), headers: created },
      200: { ...ok('The idempotency key named a rerun with this payload: that run.', SubmitRunReplySchema), headers: created },
      400: error('validation_failed, invalid_json'),
      404: error('run_not_found'),
      409: error('illegal_transition (jobs still run, or nothing failed), idempotency_conflict'),
    },
  },
  {
    method: 'post', path: '/api/v1/runs/:id/cancel', operationId: 'cancelRun', tag: 'runs', params: runId,
    summary: 'Cancel every unfinished job of a run (their agents are told to stop).',
    responses: { 200: ok('The run afterwards.', RunViewSchema), 404: error('run_not_found'), 409: error('illegal_transition (the run had ended)') },
  },
];

/**
 * Routes the app serves that the document leaves out on purpose, as `METHOD path` (method `ALL` is
 * middleware, never listed): the dashboard's page and its static files (README "Dashboard").
 */
export const UNDOCUMENTED_ROUTES: readonly string[] = ['GET /', 'GET /dashboard', 'GET /dashboard/assets/:file'];

/** Drops the keys a JSON Schema carries standalone but not inside an OpenAPI document. */
function strip<T>(schema: T): T {
  const { $schema: _s, $id: _i, ...rest } = schema as Record<string, unknown>;
  return rest as T;
}

/** The document's `{name}` form of a Hono path (`:name`). */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/**
 * The OpenAPI 3.1 document of `routes` (default: every documented route).
 * @example const doc = openApiDocument('0.1.0'); doc.paths['/api/v1/jobs'].post.operationId // 'submitJob'
 */
export function openApiDocument(version: string, routes: readonly ApiRoute[] = apiRoutes()) {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(RESPONSE_SCHEMAS)) registry.add(schema, { id });
  const uri = (id: string) => `#/components/schemas/${id}`;
  const components = z.toJSONSchema(registry, { uri, io: 'output' }).schemas;
  const idOf = new Map<unknown, string>(Object.entries(RESPONSE_SCHEMAS).map(([id, s]) => [s, id]));
  const bodyOf = (s: z.ZodType | JsonSchema, io: 'input' | 'output'): JsonSchema => {
    if (!(s instanceof z.ZodType)) return s;
    const id = idOf.get(s);
    return id ? { $ref: uri(id) } : strip(z.toJSONSchema(s, { io }) as JsonSchema);
  };
  const contentOf = (content: Record<string, z.ZodType | JsonSchema>, io: 'input' | 'output') =>
    Object.fromEntries(Object.entries(content).map(([type, s]) => [type, { schema: bodyOf(s, io) }]));

  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const parameters: unknown[] = [];
    for (const [, name] of r.path.matchAll(/:([A-Za-z0-9_]+)/g)) {
      parameters.push({ name, in: 'path', required: true, description: r.params?.[name!], schema: { type: 'string' } });
    }
    if (r.query) {
      const q = strip(z.toJSONSchema(r.query, { io: 'input' })) as { properties?: Record<string, JsonSchema>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        const { description, ...rest } = schema;
        parameters.push({ name, in: 'query', required: q.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, reply] of Object.entries(r.responses)) {
      responses[status] = {
        description: reply.description,
        ...(reply.headers ? { headers: Object.fromEntries(Object.entries(reply.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }])) } : {}),
        ...(reply.content ? { content: contentOf(reply.content, 'output') } : {}),
      };
    }
    responses.default = { description: 'Any other error: internal (500), store_unavailable (503).', content: contentOf(json(ErrorBodySchema), 'output') };
    (paths[openApiPath(r.path)] ??= {})[r.method] = {
      operationId: r.operationId,
      tags: [r.tag],
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: contentOf(r.body, 'input') } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'qgjob coordinator',
      version,
      description: 'Submit AppWright jobs, follow them, register app builds and see the fleet. Every error answer is `{error:{code, message, fields?}}` with a stable code.',
    },
    paths,
    // Required only when the coordinator has QGJOB_TOKENS (README "Authentication"); /healthz and /metrics are always open.
    security: [{ bearer: [] }, {}],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An org token, the admin token or (agents) the agent token.' } },
      schemas: Object.fromEntries(Object.entries(components).map(([id, s]) => [id, strip(s)])),
    },
  };
}
