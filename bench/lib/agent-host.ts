/**
 * Child process: real agents (`AgentProcess`, the compiled code from dist/) whose slots are noop
 * slots, each agent on its own Socket.IO connection to the coordinator. Benchmarks only.
 * Argument: JSON `{ url, agents, slotsPerAgent, logLines?, lineChars?, receipts?, idPrefix?, installed? }`
 * (`installed`: builds the slots report installed, dealt out in turn: a warm fleet).
 * IPC: sends `ready` once every agent registered; answers `stats` (passed/errored attempts,
 * assignment arrival times if `receipts`, the process's CPU so far), `wait` (until `passed` attempts were acknowledged)
 * and `close`.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { nowNs, repoRoot, serveIpc, tempDir } from './common.js';

type AgentModule = typeof import('../../agent/agent.js');
const { startAgent } = (await import(pathToFileURL(join(repoRoot, 'dist', 'agent', 'agent.js')).href)) as AgentModule;

interface Config {
  url: string;
  agents: number;
  slotsPerAgent: number;
  logLines?: number;
  lineChars?: number;
  receipts?: boolean;
  idPrefix?: string;
  installed?: string[];
}
const cfg = JSON.parse(process.argv[2]!) as Config;

let passed = 0;
let other = 0;
let lastPassNs = 0n;
const receipts: Array<[string, string]> = [];
const waiters: Array<{ n: number; resolve: (v: object) => void }> = [];
const log = (line: string) => {
  // "attempt <id> passed" is logged once the coordinator acknowledged the result (stored it).
  // The line is the message, then the entry's fields as ` key=value` (agent/log.ts).
  const outcome = /^attempt \S+ (\S+)/.exec(line)?.[1];
  if (outcome === undefined) return;
  if (outcome === 'passed') {
    passed++;
    lastPassNs = nowNs();
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (passed >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve({ passed, at_ns: String(lastPassNs) });
    }
  } else {
    other++;
    process.stderr.write(`[agent-host] ${line}\n`);
  }
};

/** CPU this process used so far (user + system, µs). */
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const workDir = tempDir('agents');
const prefix = cfg.idPrefix ?? 'bench-agent';
const agents = await Promise.all(
  Array.from({ length: cfg.agents }, (_, a) =>
    startAgent({
      url: cfg.url,
      agentId: `${prefix}-${a}`,
      name: `${prefix}-${a}`,
      projectDir: workDir,
      apps: {},
      workDir: join(workDir, String(a)),
      log,
      slots: Array.from({ length: cfg.slotsPerAgent }, (_, s) => ({
        slotId: `noop-${s}`,
        target: 'emulator' as const,
        platform: 'android' as const,
        deviceName: 'noop',
        appiumUrl: 'http://127.0.0.1:9',
        noop: {
          logLines: cfg.logLines ?? 0,
          ...(cfg.lineChars ? { lineChars: cfg.lineChars } : {}),
          ...(cfg.installed?.length ? { installed: cfg.installed[(a * cfg.slotsPerAgent + s) % cfg.installed.length]! } : {}),
          ...(cfg.receipts ? { onJob: (ctx: { jobId: string }) => void receipts.push([ctx.jobId, String(nowNs())]) } : {}),
        },
      })),
    }),
  ),
);

const ipc = serveIpc({
  stats: () => ({ passed, other, last_pass_ns: String(lastPassNs), receipts, cpu_us: cpuUs() }),
  wait: (m) => (passed >= Number(m.passed) ? { passed, at_ns: String(lastPassNs) } : new Promise((resolve) => waiters.push({ n: Number(m.passed), resolve }))),
  close: async () => {
    await Promise.all(agents.map((a) => a.close()));
    setTimeout(() => process.exit(0), 50);
    return {};
  },
});
ipc.send('ready', { agents: agents.length });
