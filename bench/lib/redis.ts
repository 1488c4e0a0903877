/**
 * Redis for the BullMQ reference: the local one on 127.0.0.1:6379 if it answers (or
 * QGJOB_BENCH_REDIS_URL), else a `redis-server` started for the run (no persistence) and stopped
 * after. And the ioredis client BullMQ 6.7 needs: under native ESM BullMQ cannot load ioredis
 * itself, so the benchmark passes it client instances. ioredis is BullMQ's optional peer
 * dependency; QGJOB_BENCH_IOREDIS may point at an ioredis entry file installed elsewhere.
 */
import { spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import { tempDir } from './common.js';

/** The ioredis constructor (typed loosely: ioredis is an optional peer of BullMQ, not a dependency of qgjob). */
export type RedisCtor = new (opts: Record<string, unknown>) => { quit(): Promise<unknown>; disconnect(): void };

export async function loadIORedis(): Promise<RedisCtor> {
  const spec = process.env.QGJOB_BENCH_IOREDIS ? pathToFileURL(process.env.QGJOB_BENCH_IOREDIS).href : 'ioredis';
  try {
    const mod = (await import(spec)) as { default?: RedisCtor } & RedisCtor;
    return mod.default ?? mod;
  } catch (err) {
    throw new Error(
      `the BullMQ reference needs ioredis (BullMQ 6.7's optional peer dependency, not installed): add it as a devDependency, or set QGJOB_BENCH_IOREDIS to its entry file (${(err as Error).message})`,
    );
  }
}

const answers = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host, port });
    s.setTimeout(500);
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });

/** A reachable Redis: `{host, port}` and how to stop it (a no-op for a Redis the benchmark did not start). */
export async function ensureRedis(): Promise<{ host: string; port: number; started: boolean; stop(): Promise<void> }> {
  const u = new URL(process.env.QGJOB_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
  const host = u.hostname;
  const port = Number(u.port || 6379);
  if (await answers(host, port)) return { host, port, started: false, stop: async () => {} };
  const free = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const child = spawn('redis-server', ['--port', String(free), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tempDir('redis')], { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) => child.once('error', (e) => reject(new Error(`no Redis on ${host}:${port} and redis-server could not start: ${e.message}`))));
  const deadline = Date.now() + 10_000;
  while (!(await Promise.race([answers('127.0.0.1', free), failed]))) {
    if (Date.now() > deadline) throw new Error('redis-server did not answer within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: '127.0.0.1',
    port: free,
    started: true,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
