/**
 * API tokens. With none configured the coordinator is open (a laptop, a private lab network): every
 * caller acts as the admin. With tokens, every HTTP request (but `/healthz` and `/metrics`), watcher
 * and dashboard connection must present one (`Authorization: Bearer <token>`, or the Socket.IO
 * handshake's `auth.token`); an org's token sees and submits only that org's jobs and runs, the
 * admin token (org `*`) sees everything.
 *
 * Configuration (`QGJOB_TOKENS`): comma-separated `org=token` pairs, e.g.
 * `qualgent=s3cr3t-1,acme=s3cr3t-2,*=admin-s3cr3t`. Tokens are compared in constant time.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { QgError } from '../../shared/index.js';

/** Who a request acts as: an org, or `*` (admin: every org). */
export interface Principal {
  org: string;
}
export const ADMIN: Principal = { org: '*' };

const digest = (s: string) => createHash('sha256').update(s).digest();

export class TokenBook {
  readonly #entries: { org: string; hash: Buffer }[];

  private constructor(entries: { org: string; token: string }[]) {
    this.#entries = entries.map((e) => ({ org: e.org, hash: digest(e.token) }));
  }

  /** No tokens: everyone is the admin. */
  static open(): TokenBook {
    return new TokenBook([]);
  }

  /**
   * Parses `org=token,org=token`. Errors: validation_failed naming the bad entry (never the token).
   * @example TokenBook.parse('qualgent=abc,*=root')
   */
  static parse(spec: string | undefined, source = 'QGJOB_TOKENS'): TokenBook {
    if (!spec || !spec.trim()) return TokenBook.open();
    const entries = spec.split(',').map((raw, i) => {
      const at = raw.indexOf('=');
      const org = raw.slice(0, at).trim();
      const token = raw.slice(at + 1).trim();
      if (at <= 0 || !org || !token) {
        throw new QgError('validation_failed', `${source}: entry ${i + 1} must be org=token (e.g. qualgent=s3cr3t, or *=token for the admin)`, {
          [source]: 'must be comma-separated org=token pairs',
        });
      }
      if (token.length < 8) throw new QgError('validation_failed', `${source}: the token of entry ${i + 1} (${org}) must be at least 8 characters`);
      return { org, token };
    });
    return new TokenBook(entries);
  }

  /** True when tokens are required. */
  get enabled(): boolean {
    return this.#entries.length > 0;
  }

  /** The principal of a token; the admin when auth is off; null for a missing or unknown token. */
  resolve(token: string | null | undefined): Principal | null {
    if (!this.enabled) return ADMIN;
    if (!token) return null;
    const h = digest(token);
    let found: Principal | null = null;
    for (const e of this.#entries) if (timingSafeEqual(e.hash, h)) found ??= { org: e.org };
    return found;
  }

  /** `resolve`, throwing `unauthorized` for a missing or unknown token. */
  require(token: string | null | undefined): Principal {
    const p = this.resolve(token);
    if (p) return p;
    throw new QgError('unauthorized', token ? 'the API token is not valid' : 'this coordinator requires an API token (Authorization: Bearer <token>; qgjob --token or QGJOB_TOKEN)');
  }
}

/** True when `p` may see or act on `orgId`'s jobs. */
export const canAccess = (p: Principal, orgId: string): boolean => p.org === '*' || p.org === orgId;

/** The token of an `Authorization: Bearer <token>` header value, else null. */
export function bearer(header: string | null | undefined): string | null {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m ? m[1]! : null;
}
