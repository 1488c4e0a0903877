/**
 * What can be checked of docker/ without a Docker engine: every file the Dockerfile copies exists
 * and reaches the build context (.dockerignore), the build stage holds every source tsc compiles,
 * the demo lab file is one the agent accepts and names files the image has, compose.yaml starts
 * services only after the ones they need are healthy, and the images' health check passes against
 * a real coordinator, agent and Appium server and fails without them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadAgentConfig } from '../../agent/config.js';
import { type AppiumServer, startAppium } from '../helpers/appium.js';
import { type Proc, freePort, repoRoot, startAgentProc, startCoordinatorProc } from '../helpers/processes.js';

const dockerDir = join(repoRoot, 'docker');

interface Instruction {
  stage: string;
  op: string;
  args: string;
}

/** The Dockerfile's instructions (continuation lines joined, comments dropped), each with its stage name. */
function dockerfile(): Instruction[] {
  const text = readFileSync(join(dockerDir, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const out: Instruction[] = [];
  let stage = '';
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(t)!;
    if (op!.toUpperCase() === 'FROM') stage = / AS (\S+)$/i.exec(args!)?.[1] ?? '';
    out.push({ stage, op: op!.toUpperCase(), args: args!.trim() });
  }
  return out;
}

/** `.dockerignore` as regexes (the patterns this repo uses: names, `dir/`, `**\/name`, `*.ext`). */
function ignored(path: string): boolean {
  const patterns = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return patterns.some((p) => {
    const re = new RegExp(
      `^${p
        .replace(/\/$/, '')
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '\u0000')
        .replace(/\*/g, '[^/]*')
        .replace(/\u0000/g, '(?:.*/)?')}(?:/.*)?$`,
    );
    return re.test(path);
  });
}

test('Dockerfile: every COPY source from the context exists and is not excluded by .dockerignore', () => {
  const copies = dockerfile().filter((i) => i.op === 'COPY' && !i.args.includes('--from='));
  assert.ok(copies.length >= 8);
  for (const c of copies) {
    const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
    for (const src of parts.slice(0, -1)) {
      assert.ok(existsSync(join(repoRoot, src)), `${src} exists (stage ${c.stage})`);
      assert.not.ok(ignored(src), `${src} reaches the build context`);
    }
  }
  assert.ok(ignored('node_modules') && ignored('examples/appwright-project/node_modules/x') && ignored('dist/cli/index.js'));
  assert.not.ok(ignored('examples/appwright-project/tests/onboarding.spec.js'));
});

test('Dockerfile: stages, targets, a non-root user, health checks; the build stage has every source tsc compiles', () => {
  const ins = dockerfile();
  const stages = ins.filter((i) => i.op === 'FROM').map((i) => i.stage);
  assert.equal(stages, ['build', 'examples', 'appium', 'runtime', 'agent', 'coordinator']);
  for (const from of ins.flatMap((i) => [...i.args.matchAll(/--from=(\S+)/g)].map((m) => m[1]!))) assert.ok(stages.includes(from), `--from=${from}`);
  const runtime = ins.filter((i) => i.stage === 'runtime');
  assert.ok(runtime.some((i) => i.op === 'USER' && i.args === 'node'));
  assert.ok(runtime.some((i) => i.op === 'ENTRYPOINT' && i.args === '["node", "/app/bin/qgjob.js"]'));
  for (const target of ['agent', 'coordinator']) {
    const own = ins.filter((i) => i.stage === target);
    assert.ok(own.some((i) => i.op === 'HEALTHCHECK' && i.args.includes(`/app/docker/healthcheck.mjs", "${target}"`)), `${target} health check`);
    assert.not.ok(own.some((i) => i.op === 'USER' && i.args !== 'node'), `${target} does not switch back to root`);
  }
  // tsc -p tsconfig.build.json in the image sees exactly the folders it compiles.
  const copied = ins.filter((i) => i.stage === 'build' && i.op === 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  const { include } = JSON.parse(readFileSync(join(repoRoot, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  for (const dir of include) assert.ok(copied.includes(dir), `the build stage copies ${dir}`);
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts', 'bin']) assert.ok(copied.includes(file), file);
  // Appium and the fake driver at the versions the repo pins.
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  const appium = ins.find((i) => i.stage === 'appium' && i.op === 'RUN' && i.args.includes('npm install'))!.args;
  assert.ok(appium.includes(`appium@${pkg.devDependencies.appium}`) && appium.includes(`@appium/fake-driver@${pkg.devDependencies['@appium/fake-driver']}`), appium);
});

test('docker/lab.json: the agent accepts it, and its paths are where the agent image puts the example project', async () => {
  const lab = await loadAgentConfig(join(dockerDir, 'lab.json'));
  assert.is(lab.url, 'http://coordinator:8080');
  assert.is(lab.slots!.length, 1);
  assert.is(lab.slots![0]!.appiumUrl, 'http://appium:4723');
  assert.is(lab.workDir, '/data/agent');
  // In the image the file is /app/lab.json, so its relative paths are under /app, which mirrors the repo.
  assert.is(lab.projectDir, join(dockerDir, 'examples/appwright-project'));
  const raw = JSON.parse(readFileSync(join(dockerDir, 'lab.json'), 'utf8'));
  for (const p of [raw.project, ...Object.values(raw.apps as Record<string, string>)]) assert.ok(existsSync(join(repoRoot, p)), p);
  assert.ok(dockerfile().some((i) => i.stage === 'agent' && i.args === 'docker/lab.json /app/lab.json'));
  assert.ok(dockerfile().some((i) => i.stage === 'agent' && i.args === '--from=examples /app/examples /app/examples'));
});

test('compose.yaml: MySQL 8 with a TCP health check and a volume; coordinator and agent start after what they need is healthy', () => {
  const c = parse(readFileSync(join(dockerDir, 'compose.yaml'), 'utf8'));
  const s = c.services;
  assert.equal(Object.keys(s), ['mysql', 'coordinator', 'appium', 'agent']);
  assert.match(s.mysql.image, /^mysql:8\./);
  assert.equal(s.mysql.healthcheck.test, ['CMD', 'mysqladmin', 'ping', '-h', '127.0.0.1', '--silent']);
  assert.ok(s.mysql.volumes.includes('mysql-data:/var/lib/mysql'));
  const env = s.mysql.environment;
  assert.is(s.coordinator.environment.DATABASE_URL, `mysql://${env.MYSQL_USER}:${env.MYSQL_PASSWORD}@mysql:3306/${env.MYSQL_DATABASE}`);
  assert.equal(s.coordinator.depends_on, { mysql: { condition: 'service_healthy' } });
  assert.equal(s.agent.depends_on, { coordinator: { condition: 'service_healthy' }, appium: { condition: 'service_healthy' } });
  for (const name of ['coordinator', 'appium', 'agent']) {
    const b = s[name].build;
    assert.ok(existsSync(join(dockerDir, b.context, b.dockerfile)), `${name} builds docker/Dockerfile`);
    assert.is(b.target, name === 'coordinator' ? 'coordinator' : 'agent');
  }
  assert.equal(s.appium.healthcheck.test, ['CMD', 'node', '/app/docker/healthcheck.mjs', 'appium'], 'appium overrides the agent image health check');
  const used = Object.values(s).flatMap((svc: any) => (svc.volumes ?? []).map((v: string) => v.split(':')[0]));
  for (const v of used) assert.ok(v in c.volumes, `volume ${v} is declared`);
});

// ───────────────────────────── healthcheck.mjs against real processes ─────────────────────────────

let appium: AppiumServer | undefined;
let coordinator: Proc | undefined;
let agent: Proc | undefined;
let url = '';

test.after(async () => {
  await agent?.stop();
  await coordinator?.stop();
  await appium?.stop();
});

/** Runs the health check as Docker would; asynchronously, so the servers' output pipes keep draining. */
async function health(what: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; line: string }> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile(process.execPath, [join(dockerDir, 'healthcheck.mjs'), what], { env: { PATH: process.env.PATH, ...env }, timeout: 15_000 }, (err, stdout) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, line: String(stdout).trim() });
    });
  });
}

test('healthcheck.mjs: coordinator, agent and appium pass against real processes and fail without them', async () => {
  appium = await startAppium();
  const c = await startCoordinatorProc();
  coordinator = c.proc;
  url = c.url;
  const port = new URL(url).port;

  const down = await health('coordinator', { QGJOB_PORT: String(await freePort()) });
  assert.is(down.code, 1);
  assert.match(down.line, /^unhealthy: /);
  const up = await health('coordinator', { QGJOB_PORT: port });
  assert.is(up.code, 0, up.line);
  assert.is(up.line, `ok: http://127.0.0.1:${port}/healthz`);

  const noAgent = await health('agent', { QGJOB_URL: url });
  assert.is(noAgent.code, 1);
  assert.match(noAgent.line, /lists no connected agent named /);
  agent = await startAgentProc({ url, appiumUrl: appium.url }); // named after the host, as in a container
  const agentUp = await health('agent', { QGJOB_URL: url });
  assert.is(agentUp.code, 0, agentUp.line);
  assert.match(agentUp.line, /^ok: agent \S+ is connected to /);
  const other = await health('agent', { QGJOB_URL: url, QGJOB_AGENT_NAME: 'another-host' });
  assert.is(other.code, 1);

  const appiumUp = await health('appium', { APPIUM_PORT: String(appium.port) });
  assert.is(appiumUp.code, 0, appiumUp.line);
  assert.is((await health('nonsense', {})).code, 1);
});

test.run();
