/**
 * `GET /metrics` after real work: a coordinator and an agent (in this process, on real sockets)
 * run the example project's spec on an Appium fake-driver device, then the scrape must say so:
 * jobs by state, installs, one dispatch in the latency histogram, slots by state, log lines, a
 * waiting queue per app version. The text must parse as the Prometheus exposition format, a
 * second coordinator in the same process keeps its own numbers, and jobs by state (read from the
 * store) survive a restart while the counters start again.
 */
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Agent, startAgent } from '../../agent/index.js';
import { type Coordinator, startCoordinator } from '../../coordinator/index.js';
import type { AgentView, SubmitReply } from '../../shared/index.js';
import { type AppiumServer, fakeAppPath, startAppium } from '../helpers/appium.js';
import { exampleProject, tempDir, waitForJob } from '../helpers/processes.js';

let appium: AppiumServer;
const open: Array<{ close(): Promise<void> }> = [];
const coordinatorLog: string[] = [];

test.before(async () => {
  appium = await startAppium();
});
test.after(async () => {
  for (const o of open.reverse()) await o.close();
  await appium?.stop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text exposition format (0.0.4): every line is empty, a `# HELP`,
 * a `# TYPE` or a sample of a family whose TYPE came first; label values are quoted and escaped.
 */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const lines = text.split('\n');
  assert.is(lines.at(-1), '', 'the text ends with a newline');
  for (const line of lines.slice(0, -1)) {
    let m: RegExpExecArray | null;
    if (line === '') continue; // the format allows empty lines (prom-client puts one between families)
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) continue;
    if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      assert.not.ok(types.has(m[1]!), `one TYPE line per family: ${m[1]}`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`).exec(line);
    assert.ok(m, `not an exposition line: ${JSON.stringify(line)}`);
    const [, name, rawLabels, rawValue] = m;
    assert.ok(/^(?:[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+)|NaN|[+-]Inf)$/i.test(rawValue!), `bad value in ${line}`);
    const labels: Record<string, string> = {};
    if (rawLabels) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/gy;
      let seen = 0;
      let l: RegExpExecArray | null;
      while ((l = re.exec(rawLabels))) {
        labels[l[1]!] = l[2]!.replace(/\\(["\\n])/g, (_s, c: string) => (c === 'n' ? '\n' : c));
        seen = re.lastIndex;
        if (l[3] === '') break;
      }
      assert.is(seen, rawLabels.length, `bad labels in ${line}`);
    }
    const family = [name!, name!.replace(/_(bucket|sum|count)$/, '')].find((f) => types.has(f));
    assert.ok(family, `sample before its TYPE line: ${line}`);
    samples.push({ name: name!, labels, value: Number(rawValue!.replace(/Inf$/i, 'Infinity')) });
  }
  return { types, samples };
}

async function scrape(c: Coordinator) {
  const res = await fetch(`${c.url}/metrics`);
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const parsed = parseExposition(await res.text());
  const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
    parsed.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  return { ...parsed, value };
}

async function submit(c: Coordinator, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${c.url}/api/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.is(res.status, 201);
  return ((await res.json()) as SubmitReply).job_id;
}

test('metrics after a job ran on a real agent, per coordinator, across a restart', async () => {
  const dataDir = tempDir('metrics');
  const databaseUrl = `sqlite:${join(dataDir, 'qgjob.sqlite')}`;
  const coordinator = await startCoordinator({ port: 0, dataDir, databaseUrl, log: (l) => coordinatorLog.push(l) });
  open.push(coordinator);
  const otherDir = tempDir('metrics-other');
  const other = await startCoordinator({ port: 0, dataDir: otherDir, databaseUrl: `sqlite:${join(otherDir, 'qgjob.sqlite')}`, log: () => {} });
  open.push(other);

  const agent: Agent = await startAgent({
    url: coordinator.url,
    agentId: 'metrics-agent',
    projectDir: exampleProject,
    apps: { '*': fakeAppPath },
    workDir: tempDir('metrics-agent'),
    slots: [
      {
        slotId: 'fake-1',
        target: 'emulator',
        platform: 'android',
        deviceName: 'Fake device',
        appiumUrl: appium.url,
        capabilities: { platformName: 'Fake', 'appium:automationName': 'Fake' },
      },
    ],
    log: () => {},
  });
  open.push({ close: () => agent.close() });

  const passedId = await submit(coordinator, { org_id: 'acme', app_version_id: 'm1', test_path: 'tests/onboarding.spec.js', target: 'emulator' });
  const ended = await waitForJob(coordinator.url, passedId, (j) => j.status !== 'queued' && j.status !== 'assigned' && j.status !== 'running', 120_000);
  assert.is(ended.status, 'passed', JSON.stringify(ended.error));
  // No slot serves iOS devices: this job waits in the queue of its version.
  await submit(coordinator, { org_id: 'acme', app_version_id: 'waiting-v', test_path: 'tests/onboarding.spec.js', target: 'device', platform: 'ios' });
  // The slot is freed as the result is acknowledged; wait to see it idle (observing only).
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { agents } = (await (await fetch(`${coordinator.url}/api/v1/agents`)).json()) as { agents: AgentView[] };
    if (agents[0]?.slots[0]?.state === 'idle') break;
    await new Promise((r) => setTimeout(r, 50));
  }

  const m = await scrape(coordinator);
  assert.is(m.types.get('qgjob_jobs'), 'gauge');
  assert.is(m.types.get('qgjob_dispatch_latency_seconds'), 'histogram');
  assert.is(m.types.get('qgjob_log_lines_total'), 'counter');
  assert.is(m.value('qgjob_jobs', { state: 'passed' }), 1);
  assert.is(m.value('qgjob_jobs', { state: 'queued' }), 1);
  assert.is(m.value('qgjob_jobs', { state: 'running' }), 0);
  assert.is(m.value('qgjob_jobs_submitted_total'), 2);
  assert.is(m.value('qgjob_jobs_started_total'), 1);
  assert.is(m.value('qgjob_jobs_finished_total', { status: 'passed' }), 1);
  assert.is(m.value('qgjob_jobs_finished_total', { status: 'failed' }), 0);
  assert.ok((m.value('qgjob_installs_total') ?? 0) >= 1, 'the first job on a fresh slot installed the build');
  assert.is(m.value('qgjob_installs_per_job'), 1);
  assert.is(m.value('qgjob_dispatch_latency_seconds_count'), 1);
  assert.ok((m.value('qgjob_dispatch_latency_seconds_sum') ?? -1) >= 0);
  assert.is(m.value('qgjob_dispatch_latency_seconds_bucket', { le: '+Inf' }), 1);
  assert.is(m.value('qgjob_queue_depth', { app_version_id: 'waiting-v' }), 1);
  assert.is(m.value('qgjob_queue_depth', { app_version_id: 'm1' }), undefined, 'an empty queue has no sample');
  assert.ok((m.value('qgjob_queue_oldest_wait_seconds', { app_version_id: 'waiting-v' }) ?? -1) >= 0);
  assert.is(m.value('qgjob_agents_connected'), 1);
  assert.is(m.value('qgjob_slots', { state: 'idle' }), 1);
  assert.is(m.value('qgjob_slots', { state: 'busy' }), 0);
  assert.ok((m.value('qgjob_log_lines_total') ?? 0) > 0, 'the spec printed lines');
  assert.ok(m.value('process_cpu_user_seconds_total') !== undefined, 'process default metrics are on the registry');
  assert.ok(m.value('nodejs_heap_size_used_bytes') !== undefined);

  // The other coordinator in this process has its own registry: nothing of the first one's work.
  const o = await scrape(other);
  assert.is(o.value('qgjob_jobs_submitted_total'), 0);
  assert.is(o.value('qgjob_jobs', { state: 'passed' }), 0);
  assert.is(o.value('qgjob_log_lines_total'), 0);
  assert.is(o.value('qgjob_agents_connected'), 0);

  // A restart on the same database: jobs by state come from the store, counters start at 0.
  await agent.close();
  await coordinator.close();
  const again = await startCoordinator({ port: 0, dataDir, databaseUrl, log: () => {} });
  open.push(again);
  const r = await scrape(again);
  assert.is(r.value('qgjob_jobs', { state: 'passed' }), 1);
  assert.is(r.value('qgjob_jobs', { state: 'queued' }), 1);
  assert.is(r.value('qgjob_queue_depth', { app_version_id: 'waiting-v' }), 1);
  assert.is(r.value('qgjob_jobs_submitted_total'), 0);
  assert.is(r.value('qgjob_slots', { state: 'idle' }), 0);
  assert.ok(coordinatorLog.some((l) => /^listening on http/.test(l)), coordinatorLog.join('\n'));
});

test.run();
