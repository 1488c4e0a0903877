/**
 * API tokens. With none configured the coordinator is open (a laptop, a private lab network): every
 * caller acts as the admin. With tokens, every HTTP request (but `/healthz` and `/metrics`), watcher
 * and dashboard connection must present one (`Authorization: Bearer <token>`, or the Socket.IO
 * handshake's `auth.token`); an org's token sees and submits only that org's jobs and runs, the
 * admin token (org `*`) sees everything.
 *
 * Configuration (`QGJOB_TOKENS`): comma-separated `org=token` pairs, e.g.
 * `qualgent=s3cr3t-1,acme=s3cr3t-2,*=admin-s3cr3t`. An org may have several tokens (rotation).
 * `QGJOB_AGENT_TOKEN` is the agents' token: it registers agents (`/agents`), uploads videos and
 * downloads builds, and sees no org's jobs. Tokens are compared in constant time and only their
 * hashes are kept.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { QgError } from '../../shared/index.js';

/**
 * Who a request acts as: an org, or `*` (admin: every org). The agents' token is `{ org: '', agent: true }`:
 * no org's jobs, only the agents' endpoints.
 */
export interface Principal {
  org: string;
  /** Set for the agents' token (QGJOB_AGENT_TOKEN). */
  agent?: true;
}
export const ADMIN: Principal = { org: '*' };
export const AGENT: Principal = { org: '', agent: true };

/** Org names as job specs allow them (letters, digits and `. _ : @ / -`), or `*` for the admin. */
const ORG = /^(\*|[A-Za-z0-9._:@/-]{1,255})$/;
const MIN_TOKEN_LENGTH = 8;

const digest = (s: string) => createHash('sha256').update(s).digest();

interface Entry {
  principal: Principal;
  hash: Buffer;
}

export class TokenBook {
  readonly #entries: Entry[];

  private constructor(entries: Entry[]) {
    this.#entries = entries;
  }

  /** No tokens: everyone is the admin. */
  static open(): TokenBook {
    return new TokenBook([]);
  }

  /**
   * Parses `org=token,org=token`. Errors: validation_failed naming the bad entry (never the token):
   * not `org=token`, an org name jobs cannot have, a token under 8 characters, one token for two orgs.
   * @example TokenBook.parse('qualgent=abcdefgh,*=root-token')
   */
  static parse(spec: string | undefined, source = 'QGJOB_TOKENS'): TokenBook {
    if (!spec || !spec.trim()) return TokenBook.open();
    const entries: Entry[] = spec.split(',').map((raw, i) => {
      const at = raw.indexOf('=');
      const org = raw.slice(0, at).trim();
      const token = raw.slice(at + 1).trim();
      if (at <= 0 || !org || !token) {
        throw new QgError('validation_failed', `${source}: entry ${i + 1} must be org=token (e.g. qualgent=s3cr3t-token, or *=token for the admin)`);
      }
      if (!ORG.test(org)) {
        throw new QgError('validation_failed', `${source}: entry ${i + 1}: "${org}" is not an org name (letters, digits and . _ : @ / -, or * for the admin)`);
      }
      if (token.length < MIN_TOKEN_LENGTH) {
        throw new QgError('validation_failed', `${source}: the token of entry ${i + 1} (${org}) must be at least ${MIN_TOKEN_LENGTH} characters`);
      }
      return { principal: org === '*' ? ADMIN : { org }, hash: digest(token) };
    });
    entries.forEach((e, i) => {
      const j = entries.findIndex((o) => o.hash.equals(e.hash));
      if (j < i && entries[j]!.principal.org !== e.principal.org) {
        throw new QgError('validation_failed', `${source}: entries ${j + 1} and ${i + 1} give one token to two orgs (${entries[j]!.principal.org}, ${e.principal.org})`);
      }
    });
    return new TokenBook(entries);
  }

  /**
   * This book plus the agents' token (none: unchanged). Errors: validation_failed when it is under
   * 8 characters or is also an org's token.
   * @example TokenBook.parse(env.QGJOB_TOKENS).withAgentToken(env.QGJOB_AGENT_TOKEN)
   */
  withAgentToken(token: string | undefined, source = 'QGJOB_AGENT_TOKEN'): TokenBook {
    const t = token?.trim();
    if (!t) return this;
    if (t.length < MIN_TOKEN_LENGTH) throw new QgError('validation_failed', `${source} must be at least ${MIN_TOKEN_LENGTH} characters`);
    const hash = digest(t);
    if (this.#entries.some((e) => !e.principal.agent && e.hash.equals(hash))) {
      throw new QgError('validation_failed', `${source} must differ from every token in QGJOB_TOKENS`);
    }
    return new TokenBook([...this.#entries.filter((e) => !e.principal.agent), { principal: AGENT, hash }]);
  }

  /** True when people's requests need a token: org tokens are configured. */
  get enabled(): boolean {
    return this.#entries.some((e) => !e.principal.agent);
  }

  /** True when agents need a token: an agent token or org tokens are configured. */
  get agentsNeedToken(): boolean {
    return this.#entries.length > 0;
  }

  /** True when an agent token is configured. */
  get hasAgentToken(): boolean {
    return this.#entries.some((e) => e.principal.agent);
  }

  /** The principal of a token, whatever the mode; null for a missing or unknown one. */
  #match(token: string | null | undefined): Principal | null {
    if (!token) return null;
    const h = digest(token);
    let found: Principal | null = null;
    for (const e of this.#entries) if (timingSafeEqual(e.hash, h)) found ??= e.principal;
    return found;
  }

  /**
   * The principal of a people's request: the admin when no org tokens are configured (the API is
   * open), else the token's org, the admin, or the agents' principal; null for a missing or unknown token.
   */
  resolve(token: string | null | undefined): Principal | null {
    if (!this.enabled) return ADMIN;
    return this.#match(token);
  }

  /** `resolve`, throwing `unauthorized` for a missing or unknown token. */
  require(token: string | null | undefined): Principal {
    const p = this.resolve(token);
    if (p) return p;
    throw new QgError('unauthorized', token ? 'the API token is not valid' : 'this coordinator requires an API token (Authorization: Bearer <token>; qgjob --token or QGJOB_TOKEN)');
  }

  /**
   * Who may act as an agent (register on `/agents`, upload videos, download builds): anyone while no
   * token is configured; else the agents' token or the admin token. With org tokens but no agent
   * token only the admin token registers agents. Errors: unauthorized.
   */
  requireAgent(token: string | null | undefined): Principal {
    if (!this.agentsNeedToken) return ADMIN;
    const p = this.#match(token);
    if (p && (p.agent || p.org === '*')) return p;
    throw new QgError(
      'unauthorized',
      token ? 'the agent token is not valid (QGJOB_AGENT_TOKEN / --token)' : 'this coordinator requires an agent token: set QGJOB_AGENT_TOKEN (or pass --token) on the agent',
    );
  }

  /**
   * A secret for `purpose` (e.g. signing video links) derived from the org tokens, independent of
   * their order; null when no org tokens are configured. It changes when QGJOB_TOKENS does.
   */
  secret(purpose: string): Buffer | null {
    if (!this.enabled) return null;
    const material = this.#entries
      .filter((e) => !e.principal.agent)
      .map((e) => `${e.principal.org}=${e.hash.toString('hex')}`)
      .sort()
      .join('\n');
    return createHmac('sha256', `qgjob:${purpose}`).update(material).digest();
  }
}

/** True when `p` may see or act on `orgId`'s jobs. */
export const canAccess = (p: Principal, orgId: string): boolean => !p.agent && (p.org === '*' || p.org === orgId);

/** The token of an `Authorization: Bearer <token>` header value, else null. */
export function bearer(header: string | null | undefined): string | null {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m ? m[1]! : null;
}
