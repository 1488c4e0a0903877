/** Turns a database URL into a driver choice. `mysql://` → MySQL; `sqlite:`/`file:`/a path → SQLite. */
import { isAbsolute, resolve } from 'node:path';
import { QgError } from '../../shared/index.js';

export type DatabaseConfig =
  | { kind: 'sqlite'; file: string }
  | { kind: 'mysql'; host: string; port: number; user: string; password: string; dbName: string };

export function parseDatabaseUrl(url: string, cwd = process.cwd()): DatabaseConfig {
  if (/^(mysql|mariadb):\/\//i.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new QgError('validation_failed', `database URL is not a valid URL: ${redact(url)}`);
    }
    const dbName = decodeURIComponent(u.pathname.replace(/^\//, ''));
    if (!dbName) throw new QgError('validation_failed', `database URL names no database (mysql://user:pass@host:port/<db>): ${redact(url)}`);
    return {
      kind: 'mysql',
      host: u.hostname || '127.0.0.1',
      port: u.port ? Number(u.port) : 3306,
      user: decodeURIComponent(u.username || 'root'),
      password: decodeURIComponent(u.password),
      dbName,
    };
  }
  const m = /^(sqlite|file):(?:\/\/)?(.*)$/i.exec(url);
  const path = m ? m[2]! : url;
  if (!path) throw new QgError('validation_failed', `database URL names no SQLite file: ${url}`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new QgError('validation_failed', `unsupported database URL scheme (use mysql://… or sqlite:<file>): ${redact(url)}`);
  }
  return { kind: 'sqlite', file: path === ':memory:' ? path : isAbsolute(path) ? path : resolve(cwd, path) };
}

/** The URL with its password replaced, for logs and errors. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}

/**
 * True when an error means the database cannot be reached (down, restarting, connection lost),
 * as opposed to a bug or a constraint: such errors answer 503 `store_unavailable`.
 */
export function isStoreUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const { name, code, message } = e as { name?: string; code?: string; message?: string };
    if (name === 'ConnectionException' || name === 'StoreClosedError') return true;
    if (code && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|PROTOCOL_CONNECTION_LOST|PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR|ER_SERVER_SHUTDOWN|ER_CON_COUNT_ERROR|SQLITE_BUSY|SQLITE_IOERR.*|SQLITE_FULL|SQLITE_CANTOPEN)$/.test(code)) return true;
    if (message && /connection lost|server has gone away|closed state|connect ECONNREFUSED|database is locked|Transaction query already complete/i.test(message)) return true;
  }
  return false;
}
