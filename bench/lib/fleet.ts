/**
 * Setting up one measured system: a database, the coordinator under test on it, and (optionally)
 * an agent host with noop slots; torn down in reverse order whatever happens.
 */
import type { BenchOptions, DbKind, IpcChild } from './common.js';
import { startTsChild } from './common.js';
import { type BenchDatabase, type CoordinatorChild, createDatabase, startCoordinatorChild } from './coordinator.js';

export interface System {
  db: BenchDatabase;
  coordinator: CoordinatorChild;
  /** Starts an agent host (`agent-host.ts`) and waits until all its agents registered. */
  agents(cfg: {
    agents: number;
    slotsPerAgent: number;
    logLines?: number;
    lineChars?: number;
    receipts?: boolean;
    /** Builds the slots report installed, dealt out in turn (slot k gets `installed[k % n]`): a warm fleet. */
    installed?: string[];
  }): Promise<IpcChild>;
}

/** Runs `fn` against a fresh system on `kind`; everything it started is stopped afterwards. */
export async function withSystem<T>(kind: DbKind, opts: BenchOptions, tag: string, fn: (s: System) => Promise<T>): Promise<T> {
  const db = await createDatabase(kind, opts, tag);
  const children: IpcChild[] = [];
  let coordinator: CoordinatorChild | null = null;
  try {
    coordinator = await startCoordinatorChild(db, { cpuProfDir: opts.cpuProfDir, profName: `${tag}-${kind}-${Date.now()}.cpuprofile` });
    const c = coordinator;
    return await fn({
      db,
      coordinator: c,
      async agents(cfg) {
        const host = startTsChild('agent-host.ts', { url: c.url, ...cfg });
        children.push(host);
        await host.next('ready', 120_000);
        return host;
      },
    });
  } catch (err) {
    // What the coordinator said last usually explains a failed run.
    if (!coordinator) throw err;
    throw new Error(`${(err as Error).stack ?? String(err)}\n--- coordinator stderr (tail) ---\n${coordinator.proc.stderr.slice(-3000)}`, { cause: err });
  } finally {
    for (const h of children.reverse()) {
      await h.request('close', {}, 30_000).catch(() => undefined);
      await h.stop(5_000);
    }
    await coordinator?.stop();
    await db.drop();
  }
}
