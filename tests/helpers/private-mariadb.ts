/**
 * A MariaDB server of the test's own (its own data folder, port and socket), started from
 * Debian's `mariadbd`, so a test can stop and restart the database without touching the
 * machine's shared server. Reported as unavailable when `mariadbd` is not installed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { tempDir } from './processes.js';

const MARIADBD = '/usr/sbin/mariadbd';

export interface PrivateMariadb {
  url: string;
  start(): Promise<void>;
  /** SIGKILL: the server dies as in a crash. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export function privateMariadbUnavailable(): string | null {
  if (!existsSync(MARIADBD)) return `${MARIADBD} is not installed (apt-get install mariadb-server)`;
  try {
    execFileSync('sh', ['-c', 'command -v mariadb-install-db'], { stdio: 'ignore' });
  } catch {
    return 'mariadb-install-db is not available (apt-get install mariadb-server)';
  }
  return null;
}

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

export async function startPrivateMariadb(): Promise<PrivateMariadb> {
  const dir = tempDir('mariadb');
  const data = join(dir, 'data');
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--user=root'], {
    stdio: 'ignore',
  });
  const port = await freePort();
  let child: ChildProcess | null = null;
  const url = `mysql://root@127.0.0.1:${port}/qgjob_fault`;
  const ready = async () => {
    const { createConnection } = await import('mysql2/promise');
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const c = await createConnection({ host: '127.0.0.1', port, user: 'root' });
        await c.end();
        return;
      } catch (err) {
        if (Date.now() > deadline || child?.exitCode !== null) throw new Error(`private MariaDB on ${port} did not start: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100)); // readiness poll
      }
    }
  };
  const db: PrivateMariadb = {
    url,
    async start() {
      child = spawn(
        MARIADBD,
        ['--no-defaults', `--datadir=${data}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${join(dir, 'sock')}`, '--user=root', '--skip-grant-tables', '--skip-log-bin'],
        { stdio: 'ignore' },
      );
      await ready();
    },
    async kill() {
      if (child && child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    },
    async stop() {
      if (child && child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
  await db.start();
  return db;
}
