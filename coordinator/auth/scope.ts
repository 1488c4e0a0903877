/**
 * Org scoping, the rules every route and namespace applies the same way:
 * - acting for an org (submitting, filtering a list by it) that the token does not cover is
 *   `forbidden` (403): the caller named that org itself, so nothing leaks;
 * - reading or acting on one thing (a job, a run) of another org answers as if it did not exist
 *   (`job_not_found`, `run_not_found`: 404), so ids of other orgs cannot be probed;
 * - lists are restricted to the token's org; the admin (org `*`) sees every org.
 * With no tokens configured every caller is the admin, so none of this changes anything.
 */
import { type AgentView, QgError } from '../../shared/index.js';
import { type Principal, canAccess } from './tokens.js';

/**
 * Throws `forbidden` unless `p` may act for `orgId` (submit for it, filter by it).
 * @example assertOrgAccess(principal, spec.org_id)
 */
export function assertOrgAccess(p: Principal, orgId: string): void {
  if (canAccess(p, orgId)) return;
  throw new QgError(
    'forbidden',
    p.agent ? 'the agent token only serves agents (video uploads, build downloads): use an org token' : `this token belongs to org "${p.org}": it may not act for org "${orgId}"`,
  );
}

/**
 * Throws `notFound()` unless `p` may see a thing of `orgId`: another org's job or run answers as missing.
 * @example assertVisible(principal, job.org_id, () => new QgError('job_not_found', `no job with id ${id}`))
 */
export function assertVisible(p: Principal, orgId: string, notFound: () => QgError): void {
  if (!canAccess(p, orgId)) throw notFound();
}

/**
 * The org a list is restricted to: the `requested` filter for the admin (undefined: every org), the
 * token's own org otherwise. Errors: forbidden when an org token asks for another org.
 * @example const orgId = listOrg(principal, q.org_id); // then filter by orgId when defined
 */
export function listOrg(p: Principal, requested: string | undefined): string | undefined {
  if (requested !== undefined) {
    assertOrgAccess(p, requested);
    return requested;
  }
  if (p.agent) assertOrgAccess(p, '');
  return p.org === '*' ? undefined : p.org;
}

/** The message of a job that does not exist, also used for another org's job. */
export const jobNotFound = (jobId: string) => () => new QgError('job_not_found', `no job with id ${jobId}`);

/**
 * The agents list as `p` may see it: agents and devices are shared infrastructure, but the job on
 * a slot is shown only to the admin and to the job's org (null for everyone else).
 * @example c.json({ agents: scopeAgents(principalOf(c), fleet.view(), (id) => service.active(id)?.orgId) })
 */
export function scopeAgents(p: Principal, agents: AgentView[], orgOf: (jobId: string) => string | undefined): AgentView[] {
  if (p.org === '*' && !p.agent) return agents;
  return agents.map((a) => ({
    ...a,
    slots: a.slots.map((s) => {
      if (s.job_id === null) return s;
      const org = orgOf(s.job_id);
      return org !== undefined && canAccess(p, org) ? s : { ...s, job_id: null };
    }),
  }));
}
