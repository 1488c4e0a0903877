/**
 * A body size limit for JSON routes that does not touch the request's body stream when the
 * request declares its size (`Content-Length`, no `Transfer-Encoding`): the check is the header,
 * and Node's HTTP parser holds the client to it. Hono's own `bodyLimit` reads `c.req.raw.body`
 * first, which makes @hono/node-server build a full WHATWG Request and a web stream over the
 * socket for every request (a large part of a submit's CPU); `c.req.json()`/`text()` without that
 * read the body straight from Node's request. A request without a declared size (chunked) goes
 * through Hono's `bodyLimit`, which counts the bytes as they arrive.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { QgError } from '../../shared/index.js';

/**
 * @param maxSize the largest body accepted, in bytes; a larger one is answered 413 `payload_too_large`
 * @example api.post('/jobs', jsonBodyLimit(64 * 1024), handler)
 */
export function jsonBodyLimit(maxSize: number): MiddlewareHandler {
  const tooLarge = (c: Context) => c.json(new QgError('payload_too_large', `the request body is over ${Math.round(maxSize / 1024)} KiB`).toBody(), 413);
  const streamed = bodyLimit({ maxSize, onError: tooLarge });
  return async (c, next) => {
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined && /^\d+$/.test(length)) {
      if (Number(length) > maxSize) return tooLarge(c);
      await next();
      return;
    }
    return streamed(c, next);
  };
}
