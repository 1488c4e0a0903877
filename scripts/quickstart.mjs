#!/usr/bin/env node
// `npm start`: a complete local qgjob on the embedded default, in one terminal:
//   - an Appium 3 server with its fake driver, standing in for a device (127.0.0.1:4723),
//   - a coordinator on SQLite (http://127.0.0.1:8080, data in .qgjob/),
//   - an agent bound to the fake device (examples/lab.json), running the example AppWright project.
// Ctrl-C stops all three. Ports: QGJOB_PORT (coordinator) and APPIUM_PORT (Appium).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const port = process.env.QGJOB_PORT ?? '8080';
const appiumPort = process.env.APPIUM_PORT ?? '4723';
const url = `http://127.0.0.1:${port}`;
const children = [];
let stopping = false;
// The children write to pipes, so their logs would be JSON lines: a person at this terminal gets
// readable ones (QGJOB_LOG_FORMAT set by the caller wins).
const logFormat = process.env.QGJOB_LOG_FORMAT ?? (process.stderr.isTTY ? 'pretty' : undefined);

function start(name, args, env = {}) {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...(logFormat ? { QGJOB_LOG_FORMAT: logFormat } : {}), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (stream, out) => {
    let buf = '';
    stream.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        out.write(`${name.padEnd(11)}| ${buf.slice(0, i)}\n`);
        buf = buf.slice(i + 1);
      }
    });
  };
  prefix(child.stdout, process.stdout);
  prefix(child.stderr, process.stderr);
  child.on('exit', (code, sig) => {
    if (!stopping) {
      console.error(`quickstart: ${name} exited (${sig ?? code}); stopping the rest`);
      stop(1);
    }
  });
  children.push(child);
  return child;
}

async function waitFor(what, check, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) return;
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200)); // readiness poll: these servers have no other signal
  }
  console.error(`quickstart: ${what} did not come up within ${timeoutMs / 1000} s`);
  stop(1);
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children.reverse()) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 3000).unref();
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null))).then(() => process.exit(code));
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

start('appium', ['node_modules/appium/index.js', '--address', '127.0.0.1', '--port', appiumPort, '--log-level', 'warn', '--log-no-colors'], { APPIUM_HOME: root });
await waitFor('Appium', async () => (await (await fetch(`http://127.0.0.1:${appiumPort}/status`)).json()).value?.ready);
start('coordinator', ['bin/qgjob.js', 'coordinator', '--port', port]);
await waitFor('the coordinator', async () => (await fetch(`${url}/healthz`)).ok);
start('agent', ['bin/qgjob.js', 'agent', '--config', 'examples/lab.json', '--url', url, '--appium-url', `http://127.0.0.1:${appiumPort}`]);
await waitFor('the agent', async () => (await (await fetch(`${url}/api/v1/agents`)).json()).agents.some((a) => a.connected));
if (!stopping) {
  console.log(`
qgjob is running: coordinator ${url} (SQLite in .qgjob/), one agent, one fake device.
In another terminal, from this folder:

  npx qgjob submit --org-id qualgent --app-version-id xyz123 --test tests/onboarding.spec.js --target emulator --wait

Ctrl-C here stops everything.
`);
}
