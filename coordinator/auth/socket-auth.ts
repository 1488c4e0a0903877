/**
 * Token checks of the Socket.IO namespaces, run once per connection in the handshake:
 * - `/watch` (people, CI, the dashboard): `auth.token` resolves to a principal like an HTTP bearer
 *   token, kept on `socket.data.principal`; subscriptions are then scoped by it.
 * - `/agents`: the agent token (QGJOB_AGENT_TOKEN) or the admin token, as soon as any token is
 *   configured; with org tokens but no agent token only the admin token registers agents.
 * A refusal is a connect error whose `data` is `{ code: 'unauthorized', message }`; the client
 * does not reconnect after it.
 */
import type { Socket } from 'socket.io';
import { QgError } from '../../shared/index.js';
import { ADMIN, type Principal, type TokenBook } from './tokens.js';

type Next = (err?: Error) => void;

/** The connect error a refused handshake sends: `err.data` reaches the client. */
function refusal(err: QgError): Error {
  return Object.assign(new Error(err.message), { data: { code: err.code, message: err.message } });
}

const tokenOf = (socket: Socket): string | null => {
  const t = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
  return typeof t === 'string' && t ? t : null;
};

/** Who a socket acts as (set by `watchAuth`; the admin where it did not run). */
export const socketPrincipal = (socket: Socket): Principal => (socket.data as { principal?: Principal }).principal ?? ADMIN;

/**
 * The `/watch` handshake: resolves `auth.token`, refusing a missing or unknown one while tokens are configured.
 * @example io.of(WATCH_NAMESPACE).use(watchAuth(book));
 */
export function watchAuth(book: TokenBook): (socket: Socket, next: Next) => void {
  return (socket, next) => {
    try {
      (socket.data as { principal?: Principal }).principal = book.require(tokenOf(socket));
      next();
    } catch (err) {
      next(refusal(err as QgError));
    }
  };
}

/**
 * The `/agents` handshake: requires the agent token (or the admin token) once any token is configured.
 * @example io.of(AGENTS_NAMESPACE).use(agentAuth(book, log));
 */
export function agentAuth(book: TokenBook, log: (line: string) => void): (socket: Socket, next: Next) => void {
  return (socket, next) => {
    try {
      (socket.data as { principal?: Principal }).principal = book.requireAgent(tokenOf(socket));
      next();
    } catch (err) {
      log(`refused an agent connection from ${socket.handshake.address}: ${(err as Error).message}`);
      next(refusal(err as QgError));
    }
  };
}
