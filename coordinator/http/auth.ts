/**
 * Authentication and org scoping of the HTTP API. `apiAuth` runs before every `/api/v1` route: it
 * resolves the request's `Authorization: Bearer <token>` to a `Principal` (kept on the context,
 * read with `principalOf(c)`) or answers 401 `unauthorized` with `WWW-Authenticate: Bearer`.
 * `/healthz` and `/metrics` are outside it. `videoAccess` guards `/videos/<file>`: a signed link
 * (`?sig=`) or a token that may see the job. With no tokens configured both pass everything and
 * every caller is the admin, exactly as before tokens existed.
 *
 * Who may call what (with tokens):
 * | route                                   | org token        | admin token | agent token |
 * |-----------------------------------------|------------------|-------------|-------------|
 * | jobs, runs (submit, read, list, cancel) | its own org only | every org   | 403         |
 * | GET /agents                             | yes (others' job ids hidden) | yes | 403   |
 * | /apps (upload, show, download)          | yes              | yes         | download only |
 * | PUT /jobs/:id/video                     | 403              | yes         | yes         |
 *
 * A new route scopes itself in one line with the helpers of `../auth/scope.js`, e.g.
 * `assertOrgAccess(principalOf(c), spec.org_id)` before creating something for an org, or
 * `assertVisible(principalOf(c), run.org_id, () => new QgError('run_not_found', …))` after reading one.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { QgError } from '../../shared/index.js';
import type { LinkSigner } from '../auth/links.js';
import { assertVisible, jobNotFound } from '../auth/scope.js';
import { ADMIN, type Principal, type TokenBook, bearer, canAccess } from '../auth/tokens.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** Who the request acts as; set by `apiAuth`. */
    principal: Principal;
  }
}

/** The request's principal: set by `apiAuth` on every `/api/v1` route (the admin where it does not run). */
export const principalOf = (c: Context): Principal => c.get('principal') ?? ADMIN;

/** The agents' own endpoints: only agents (and the admin) upload videos. */
const AGENT_ONLY: ReadonlyArray<readonly [string, RegExp]> = [['PUT', /^\/api\/v1\/jobs\/[^/]+\/video$/]];
/** Endpoints the agent token may use besides its own: build downloads. */
const AGENT_ALSO: ReadonlyArray<readonly [string, RegExp]> = [
  ['GET', /^\/api\/v1\/apps\/[^/]+\/download$/],
  ['HEAD', /^\/api\/v1\/apps\/[^/]+\/download$/],
];
const matches = (routes: typeof AGENT_ONLY, c: Context) => routes.some(([m, re]) => m === c.req.method && re.test(c.req.path));

/** 401 with the challenge header; the body is the usual error body. */
function unauthorized(c: Context, err: QgError): Response {
  return c.json(err.toBody(), 401, { 'WWW-Authenticate': 'Bearer realm="qgjob"' });
}

/**
 * The `/api/v1/*` middleware: resolves the bearer token to a principal, refuses a missing or
 * unknown one (401), and keeps the agent token to the agents' endpoints (403 elsewhere).
 * @example app.use('/api/v1/*', apiAuth(book));
 */
export function apiAuth(book: TokenBook): MiddlewareHandler {
  return async (c, next) => {
    const token = bearer(c.req.header('authorization'));
    let p: Principal;
    if (matches(AGENT_ONLY, c)) {
      try {
        p = book.requireAgent(token);
      } catch (err) {
        const person = book.enabled ? book.resolve(token) : null;
        if (!person) return unauthorized(c, err as QgError);
        throw new QgError('forbidden', 'only agents upload videos: this endpoint takes the agent token (QGJOB_AGENT_TOKEN)');
      }
    } else {
      const resolved = book.resolve(token);
      if (!resolved) return unauthorized(c, new QgError('unauthorized', token ? 'the API token is not valid' : 'this coordinator requires an API token (Authorization: Bearer <token>; qgjob: set QGJOB_TOKEN)'));
      if (resolved.agent && !matches(AGENT_ALSO, c)) {
        throw new QgError('forbidden', 'the agent token only serves agents (video uploads, build downloads): use an org token');
      }
      p = resolved;
    }
    c.set('principal', p);
    await next();
  };
}

/**
 * Throws `job_not_found` unless `p` may see job `jobId` (another org's job answers as missing).
 * The admin skips the lookup, so an open coordinator pays nothing. `orgOf` → null: no such job.
 * @example await assertJobVisible(principalOf(c), id, orgOfJob);
 */
export async function assertJobVisible(p: Principal, jobId: string, orgOf: (jobId: string) => Promise<string | null>): Promise<void> {
  if (p.org === '*' && !p.agent) return;
  const org = await orgOf(jobId);
  if (org === null) throw jobNotFound(jobId)();
  assertVisible(p, org, jobNotFound(jobId));
}

export interface VideoAccessDeps {
  book: TokenBook;
  /** Null when no tokens are configured: links are not signed then. */
  signer: LinkSigner | null;
  /** The org of a job; null when there is none. */
  orgOf: (jobId: string) => Promise<string | null>;
}

/**
 * Guards `/videos/<job_id>.<ext>` while tokens are configured: a valid `?sig=` (the stored links
 * carry one), or a bearer token of the job's org or the admin; anything else is 404 `not_found`,
 * as if the file did not exist.
 * @example app.use('/videos/:file', videoAccess({ book, signer, orgOf }));
 */
export function videoAccess(deps: VideoAccessDeps): MiddlewareHandler {
  return async (c, next) => {
    if (!deps.book.enabled || !deps.signer) return next();
    const path = c.req.path;
    if (deps.signer.verify(path, c.req.query('sig'))) return next();
    const file = path.slice(path.lastIndexOf('/') + 1);
    const p = deps.book.resolve(bearer(c.req.header('authorization')));
    const jobId = /^(job_[0-9A-Z]{26})\./.exec(file)?.[1];
    if (p && jobId && !p.agent) {
      const org = p.org === '*' ? '*' : await deps.orgOf(jobId);
      if (org !== null && (org === '*' || canAccess(p, org))) return next();
    }
    throw new QgError('not_found', `no video ${file}`);
  };
}
