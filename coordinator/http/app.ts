/**
 * The HTTP API (`/api/v1/...`, `/healthz`, `/metrics`; described by `/api/v1/openapi.json`). Every
 * error answer is `{error:{code, message, fields?}}` with a status chosen in one place (`statusOf`).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import {
  type ErrorCode,
  type Health,
  JOB_STATES,
  JobSpec,
  QgError,
  type SubmitReply,
} from '../../shared/index.js';
import type { BuildRegistry } from '../builds/index.js';
import type { JobService } from '../jobs/job-service.js';
import type { Fleet } from '../agents/fleet.js';
import type { Logger } from '../log.js';
import { validate } from './validate.js';
import { jsonBodyLimit } from './body-limit.js';
import { videoRoutes } from './videos.js';
import { isStoreUnavailable, type JobStore } from '../store/index.js';
import { buildRoutes } from './builds.js';
import { apiAuth, assertJobVisible, principalOf, videoAccess } from './auth.js';
import { assertOrgAccess, assertVisible, jobNotFound, listOrg, scopeAgents } from '../auth/scope.js';
import { LinkSigner } from '../auth/links.js';
import { TokenBook } from '../auth/tokens.js';
import type { RunService } from '../jobs/run-service.js';
import { runRoutes } from './runs.js';
import { dashboardRoutes } from './dashboard.js';
import { openApiDocument } from './openapi.js';

const STATUS: Record<ErrorCode, 400 | 401 | 403 | 404 | 409 | 413 | 500 | 503> = {
  validation_failed: 400,
  invalid_json: 400,
  payload_too_large: 413,
  not_found: 404,
  job_not_found: 404,
  run_not_found: 404,
  build_not_found: 404,
  illegal_transition: 409,
  idempotency_conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  stale_attempt: 409,
  unknown_agent: 409,
  store_unavailable: 503,
  coordinator_unreachable: 503,
  internal: 500,
};
export const statusOf = (code: ErrorCode): number => STATUS[code];

export const ListQuery = z
  .object({
    org_id: z.string().min(1).max(255).optional(),
    status: z.enum(JOB_STATES, { error: `status must be one of ${JOB_STATES.join(', ')}` }).optional(),
    app_version_id: z.string().min(1).max(255).optional(),
    limit: z.coerce.number({ error: 'limit must be a number' }).int('limit must be an integer').min(1, 'limit must be at least 1').max(200, 'limit must be at most 200').default(50),
    cursor: z.string().regex(/^job_[0-9A-Z]{26}$/, 'cursor must be the next_cursor of a previous page').optional(),
  })
  .strict();


export interface HttpDeps {
  service: JobService;
  /** Runs (`/api/v1/runs`): suites submitted as one unit. */
  runs: RunService;
  fleet: Fleet;
  store: JobStore;
  /** The build registry: `/api/v1/apps`, and the submit rule for jobs' builds. */
  builds: BuildRegistry;
  version: string;
  /** Folder for uploaded session videos. */
  videoDir: string;
  maxVideoBytes: number;
  /** Base URL for stored video links; default: the origin a request came to. */
  publicUrl?: string;
  /** Called after a cancel was stored, to stop the attempt on its agent. */
  onCancelled: (jobId: string, attemptId: string | null, agentId: string | null) => void;
  log: Logger;
  /** API tokens; default none (open). See ./auth.ts. */
  tokens?: TokenBook;
  /** Prometheus metrics for `GET /metrics` (text exposition format). */
  metrics: { contentType: string; text(): Promise<string> };
}

export function createApp(deps: HttpDeps): Hono {
  const { service, fleet, store } = deps;
  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof QgError) return c.json(err.toBody(), statusOf(err.code) as 400);
    if (isStoreUnavailable(err)) {
      deps.log.warn({ method: c.req.method, path: c.req.path }, `HTTP ${c.req.method} ${c.req.path}: the database is unavailable: ${err.message}; answered 503`);
      return c.json(new QgError('store_unavailable', 'the database is unavailable; try again shortly').toBody(), 503);
    }
    deps.log.error({ err, method: c.req.method, path: c.req.path }, `HTTP ${c.req.method} ${c.req.path} failed; answered 500`);
    return c.json(new QgError('internal', 'internal error; see the coordinator log').toBody(), 500);
  });
  app.notFound((c) => c.json(new QgError('not_found', `no route ${c.req.method} ${c.req.path}`).toBody(), 404));

  app.get('/healthz', async (c) => {
    const counts = await store.countByStatus().catch(() => null);
    const body: Health = {
      ok: counts !== null,
      version: deps.version,
      database: store.kind,
      agents: [...fleet.agents.values()].filter((a) => a.socket).length,
      queued: service.queues.size,
    };
    return c.json(body, counts ? 200 : 503);
  });

  // Unauthenticated, like /healthz: counts only, no job contents.
  app.get('/metrics', async (c) => c.body(await deps.metrics.text(), 200, { 'content-type': deps.metrics.contentType }));

  const tokens = deps.tokens ?? TokenBook.open();
  const secret = tokens.secret('video-links');
  const signer = secret ? new LinkSigner(secret) : null;
  const orgOfJob = async (id: string) => (service.active(id) ?? (await store.getJob(id)))?.orgId ?? null;
  app.use('/api/v1/*', apiAuth(tokens));
  app.use('/videos/:file', videoAccess({ book: tokens, signer, orgOf: orgOfJob }));

  const api = new Hono();
  api.post(
    '/jobs',
    jsonBodyLimit(64 * 1024),
    async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw new QgError('invalid_json', 'the request body is not valid JSON (send Content-Type: application/json)');
      }
      const spec = validate(JobSpec, body, 'job');
      assertOrgAccess(principalOf(c), spec.org_id);
      await deps.builds.checkSubmit(spec);
      const row = await service.submit(spec);
      const reply: SubmitReply = { job_id: row.id, status: 'queued' };
      return c.json(reply, 201, { Location: `/api/v1/jobs/${row.id}` });
    },
  );

  api.get('/jobs', async (c) => {
    const q = validate(ListQuery, c.req.query(), 'query');
    const orgId = listOrg(principalOf(c), q.org_id);
    const { jobs, nextCursor } = await service.list(
      { ...(orgId ? { orgId } : {}), ...(q.status ? { status: q.status } : {}), ...(q.app_version_id ? { appVersionId: q.app_version_id } : {}) },
      q.limit,
      q.cursor,
    );
    return c.json({ jobs, next_cursor: nextCursor });
  });

  api.get('/jobs/:id', async (c) => {
    const job = await service.view(c.req.param('id'));
    assertVisible(principalOf(c), job.org_id, jobNotFound(job.job_id));
    return c.json(job);
  });

  api.post('/jobs/:id/cancel', async (c) => {
    await assertJobVisible(principalOf(c), c.req.param('id'), orgOfJob);
    const before = await service.cancel(c.req.param('id'));
    deps.onCancelled(before.id, before.attemptId, before.agentId);
    return c.json(await service.view(before.id));
  });

  api.post('/jobs/:id/resubmit', async (c) => {
    await assertJobVisible(principalOf(c), c.req.param('id'), orgOfJob);
    const row = await service.resubmit(c.req.param('id'));
    const reply: SubmitReply = { job_id: row.id, status: 'queued' };
    return c.json(reply, 201, { Location: `/api/v1/jobs/${row.id}` });
  });

  api.get('/agents', (c) => c.json({ agents: scopeAgents(principalOf(c), fleet.view(), (id) => service.active(id)?.orgId) }));

  const videos = videoRoutes({ service, dir: deps.videoDir, maxBytes: deps.maxVideoBytes, ...(deps.publicUrl ? { publicUrl: deps.publicUrl } : {}), ...(signer ? { signer } : {}) });
  api.route('/', videos.api);
  app.route('/videos', videos.files);

  api.route('/', buildRoutes({ registry: deps.builds }));
  api.route('/', runRoutes({ runs: deps.runs, onCancelled: deps.onCancelled }));

  let openapi: object | null = null;
  api.get('/openapi.json', (c) => c.json((openapi ??= openApiDocument(deps.version))));

  app.route('/api/v1', api);
  app.route('/', dashboardRoutes());
  return app;
}
