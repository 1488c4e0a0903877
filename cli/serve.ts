/**
 * The long-running commands: `qgjob coordinator` and `qgjob agent`. Each resolves its options
 * (flags over env over defaults), starts the process's component, and stops it cleanly on the
 * first SIGINT/SIGTERM (a second one exits at once). Loaded only when one of them runs.
 */
import { agentOptionsFromFlags, loadAgentConfig, type AgentFlags } from '../agent/config.js';
import type { AgentOptions } from '../agent/options.js';
import type { CoordinatorOptions } from '../coordinator/options.js';
import { QgError } from '../shared/index.js';
import { DEFAULT_COORDINATOR_URL } from './client.js';
import { EXIT } from './exit-codes.js';

/** Flags of `qgjob coordinator`, exactly as typed. */
export interface CoordinatorFlags {
  host?: string;
  port?: string;
  database?: string;
  dataDir?: string;
}

/**
 * Coordinator options from flags, then env (QGJOB_HOST, QGJOB_PORT, DATABASE_URL, QGJOB_DATA_DIR),
 * then the coordinator's own defaults. A bad port is a usage error.
 * @example coordinatorOptionsFrom({ port: '0' }, {}) // { port: 0 }
 */
export function coordinatorOptionsFrom(flags: CoordinatorFlags, env: NodeJS.ProcessEnv = process.env): CoordinatorOptions {
  const opts: CoordinatorOptions = {};
  const host = flags.host ?? env.QGJOB_HOST;
  if (host !== undefined) opts.host = host;
  const port = flags.port ?? env.QGJOB_PORT;
  if (port !== undefined) {
    const n = /^\d+$/.test(port.trim()) ? Number(port) : NaN;
    if (!(n >= 0 && n <= 65535)) {
      const src = flags.port !== undefined ? '--port' : 'QGJOB_PORT';
      throw new QgError('validation_failed', `${src} must be a port number from 0 to 65535, got "${port}"`);
    }
    opts.port = n;
  }
  const databaseUrl = flags.database ?? env.DATABASE_URL;
  if (databaseUrl !== undefined) opts.databaseUrl = databaseUrl;
  const dataDir = flags.dataDir ?? env.QGJOB_DATA_DIR;
  if (dataDir !== undefined) opts.dataDir = dataDir;
  return opts;
}

/** Resolves on the first SIGINT/SIGTERM; a second signal exits at once with 130. */
function untilSignal(what: string): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.stderr.write(`qgjob: ${sig}: stopping the ${what} (send it again to exit at once)\n`);
      const force = (s: NodeJS.Signals) => {
        process.stderr.write(`qgjob: ${s} again: exiting now\n`);
        process.exit(130);
      };
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** `qgjob coordinator`: runs until a signal, then closes sockets and the database. */
export async function runCoordinator(flags: CoordinatorFlags): Promise<number> {
  const opts = coordinatorOptionsFrom(flags);
  const { startCoordinator } = await import('../coordinator/index.js');
  const coordinator = await startCoordinator(opts);
  process.stdout.write(`qgjob coordinator listening on ${coordinator.url}\n`);
  await untilSignal('coordinator');
  await coordinator.close();
  return EXIT.OK;
}

/** Flags of `qgjob agent`, exactly as typed, plus `--config`. */
export interface AgentCommandFlags extends AgentFlags {
  config?: string;
  shutdownGraceMs?: string;
}

/**
 * The agent's options: the config file (if any), with the flags laid over it. The coordinator URL
 * is `--url`, else QGJOB_URL, else the file's `url`, else the default; the token `--token`, else
 * QGJOB_AGENT_TOKEN (the file holds no secret).
 */
export async function agentOptionsFrom(flags: AgentCommandFlags, env: NodeJS.ProcessEnv = process.env): Promise<AgentOptions> {
  const { config, shutdownGraceMs: _grace, ...rest } = flags;
  const fileConfig = config !== undefined ? await loadAgentConfig(config) : {};
  const url = rest.url ?? env.QGJOB_URL ?? fileConfig.url ?? DEFAULT_COORDINATOR_URL;
  const token = rest.token ?? env.QGJOB_AGENT_TOKEN;
  return agentOptionsFromFlags({ ...rest, url, ...(token ? { token } : {}) }, fileConfig);
}

/** `qgjob agent`: connects to the coordinator and serves the slots until a signal. */
export async function runAgent(flags: AgentCommandFlags): Promise<number> {
  const graceMs = flags.shutdownGraceMs === undefined ? 30_000 : Number(flags.shutdownGraceMs);
  if (!/^\d+$/.test(flags.shutdownGraceMs ?? '0') || !Number.isSafeInteger(graceMs)) {
    throw new QgError('validation_failed', `--shutdown-grace-ms must be a whole number of milliseconds, got "${flags.shutdownGraceMs}"`);
  }
  const opts = await agentOptionsFrom(flags);
  const { startAgent } = await import('../agent/index.js');
  const agent = await startAgent(opts);
  process.stdout.write(`qgjob agent ${agent.agentId} serving ${opts.slots.length} slot${opts.slots.length === 1 ? '' : 's'} for ${opts.url}\n`);
  // A coordinator that later refuses the token (restarted with other tokens) stops the agent: the agent logged why.
  const refused = await Promise.race([untilSignal('agent').then(() => null), agent.refused()]);
  await agent.close({ graceMs: refused ? 0 : graceMs });
  return refused ? EXIT.USAGE : EXIT.OK;
}
