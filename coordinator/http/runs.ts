/**
 * The runs API, mounted under `/api/v1`:
 *
 * - `POST /runs` (RunSpec): 201 with a SubmitRunReply once the run and all its jobs are stored; 200
 *   with the same reply (`created: false`) when `idempotency_key` names a run with this payload;
 *   409 `idempotency_conflict` when it names one with another payload.
 * - `GET /runs?org_id=&status=&limit=&cursor=`: RunList, newest first.
 * - `GET /runs/:id`: RunView (404 `run_not_found`).
 * - `POST /runs/:id/rerun` (RerunSpec, body optional): a new run of the failed (or all) jobs; 409
 *   `illegal_transition` while the run has unfinished jobs or when nothing failed.
 * - `POST /runs/:id/cancel`: cancels every unfinished job; the RunView afterwards (409 when it had ended).
 *
 * Errors go through the app's one `onError`.
 */
import { Hono, type Context } from 'hono';
import { jsonBodyLimit } from './body-limit.js';
import { z } from 'zod';
import { QgError, RUN_MAX_TESTS, RUN_STATES, RerunSpec, RunSpec, type SubmitRunReply } from '../../shared/index.js';
import type { RunService, SubmittedRun } from '../jobs/run-service.js';
import type { JobRow } from '../store/index.js';
import { validate } from './validate.js';
import { principalOf } from './auth.js';
import { assertOrgAccess, assertVisible, listOrg } from '../auth/scope.js';

/** Room for RUN_MAX_TESTS spec paths of the longest allowed length (1 KiB each) and the other fields. */
const MAX_RUN_BODY_BYTES = RUN_MAX_TESTS * 1024 + 64 * 1024;

export const RunListQuery = z
  .object({
    org_id: z.string().min(1).max(255).optional(),
    status: z.enum(RUN_STATES, { error: `status must be one of ${RUN_STATES.join(', ')}` }).optional(),
    limit: z.coerce.number({ error: 'limit must be a number' }).int('limit must be an integer').min(1, 'limit must be at least 1').max(100, 'limit must be at most 100').default(20),
    cursor: z.string().regex(/^run_[0-9A-Z]{26}$/, 'cursor must be the next_cursor of a previous page').optional(),
  })
  .strict();

export interface RunRoutesDeps {
  runs: RunService;
  /** Called for each job a run cancel stopped, to stop its attempt on its agent. */
  onCancelled: (jobId: string, attemptId: string | null, agentId: string | null) => void;
}

/** The JSON body, or `{}` when `optional` and there is none. */
async function jsonBody(c: Context, optional = false): Promise<unknown> {
  const text = await c.req.text();
  if (optional && !text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new QgError('invalid_json', 'the request body is not valid JSON (send Content-Type: application/json)');
  }
}

const limit = jsonBodyLimit;

function reply(r: SubmittedRun): SubmitRunReply {
  return { run_id: r.run.id, created: r.created, jobs: r.jobs.map((j) => ({ job_id: j.id, test_path: j.testPath })) };
}

/** Another org's run answers as if it did not exist. */
const runNotFound = (runId: string) => () => new QgError('run_not_found', `no run with id ${runId}`);

export function runRoutes({ runs, onCancelled }: RunRoutesDeps): Hono {
  const api = new Hono();
  /** Throws run_not_found unless the request's token may see the run. */
  const visible = async (c: Context, runId: string) => assertVisible(principalOf(c), await runs.orgOf(runId), runNotFound(runId));

  api.post('/runs', limit(MAX_RUN_BODY_BYTES), async (c) => {
    const spec = validate(RunSpec, await jsonBody(c), 'run');
    assertOrgAccess(principalOf(c), spec.org_id);
    const r = await runs.submit(spec);
    return c.json(reply(r), r.created ? 201 : 200, { Location: `/api/v1/runs/${r.run.id}` });
  });

  api.get('/runs', async (c) => {
    const q = validate(RunListQuery, c.req.query(), 'query');
    const orgId = listOrg(principalOf(c), q.org_id);
    return c.json(await runs.list({ ...(orgId ? { orgId } : {}), ...(q.status ? { status: q.status } : {}) }, q.limit, q.cursor));
  });

  api.get('/runs/:id', async (c) => {
    const run = await runs.view(c.req.param('id'));
    assertVisible(principalOf(c), run.org_id, runNotFound(run.run_id));
    return c.json(run);
  });

  api.post('/runs/:id/rerun', limit(64 * 1024), async (c) => {
    const spec = validate(RerunSpec, await jsonBody(c, true), 'rerun');
    await visible(c, c.req.param('id'));
    const r = await runs.rerun(c.req.param('id'), spec);
    return c.json(reply(r), r.created ? 201 : 200, { Location: `/api/v1/runs/${r.run.id}` });
  });

  api.post('/runs/:id/cancel', async (c) => {
    await visible(c, c.req.param('id'));
    const stop = (before: JobRow) => onCancelled(before.id, before.attemptId, before.agentId);
    return c.json(await runs.cancel(c.req.param('id'), stop));
  });

  return api;
}
