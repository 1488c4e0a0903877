/**
 * Signed links. With tokens configured, a stored video URL carries `?sig=`, an HMAC-SHA256 of its
 * path (`/videos/<job_id>.<ext>`) under a secret derived from QGJOB_TOKENS. Such a link opens in a
 * browser with no header (a GitHub step summary, a chat message) and names one file only; it does
 * not expire. Changing QGJOB_TOKENS changes the secret, so older links stop working (a token of
 * the job's org, or the admin token, still opens the file).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export class LinkSigner {
  readonly #secret: Buffer;

  constructor(secret: Buffer) {
    this.#secret = secret;
  }

  /**
   * The signature of `path` (base64url, 43 characters).
   * @example `${base}${path}?sig=${signer.sign(path)}`
   */
  sign(path: string): string {
    return createHmac('sha256', this.#secret).update(path).digest('base64url');
  }

  /** True when `sig` is the signature of `path`; compared in constant time. */
  verify(path: string, sig: string | null | undefined): boolean {
    if (!sig) return false;
    const want = Buffer.from(this.sign(path));
    const got = Buffer.from(sig);
    return got.length === want.length && timingSafeEqual(got, want);
  }
}
