/**
 * How the CLI prints: colours, the result line, test cases, job details, tables and live events.
 * Pure functions from data to text; the commands decide which stream each piece goes to.
 */
import { isFinal, type AgentView, type FieldErrors, type JobEvent, type JobView, type TestCaseResult } from '../shared/index.js';

export interface Paint {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

/**
 * Colours for one output stream: only when `NO_COLOR` is unset (or empty) and the stream is a terminal.
 * @example const c = paintFor(process.stdout); console.log(c.green('✔ passed'));
 */
export function paintFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Paint {
  const on = !env.NO_COLOR && stream.isTTY === true;
  const wrap = (open: number, close: number) => (s: string) => (on ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { green: wrap(32, 39), red: wrap(31, 39), yellow: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
}

const plain: Paint = paintFor({ isTTY: false });

/** `5.3s`, `420ms`, `2m05s`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m${String(s).padStart(2, '0')}s`;
}

/** `3s ago`, `5m ago`, `2h ago`, `4d ago` relative to `nowMs`. */
export function formatAge(iso: string | null | undefined, nowMs: number = Date.now()): string {
  if (!iso) return '–';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((nowMs - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

const firstLine = (s: string | null | undefined): string => (s ?? '').split('\n').map((l) => l.trim()).find(Boolean) ?? '';
const shorten = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Test cases that count as failures in the result line. */
const isFailure = (t: TestCaseResult) => t.status === 'failed' || t.status === 'timedOut' || t.status === 'interrupted';

/**
 * The one-line verdict of a finished job, e.g. `✔ passed · 2 tests · 5.3s · video: https://…` or
 * `✘ failed · fails on purpose: Element was not found on the screen`.
 * @example resultLine(job, paintFor(process.stdout))
 */
export function resultLine(job: JobView, c: Paint = plain): string {
  const parts: string[] = [];
  const tests = job.test_cases.length ? plural(job.test_cases.length, 'test') : null;
  // The note can be a long driver message: the result line keeps its gist, `qgjob status` shows it whole.
  const video = job.video?.url ? `video: ${job.video.url}` : job.video_note ? c.dim(`no video (${shorten(firstLine(job.video_note), 60)})`) : null;
  switch (job.status) {
    case 'passed':
      parts.push(c.green('✔ passed'));
      if (tests) parts.push(tests);
      parts.push(formatDuration(job.duration_ms));
      break;
    case 'failed': {
      parts.push(c.red('✘ failed'));
      const first = job.test_cases.find(isFailure);
      if (first) {
        const msg = firstLine(first.error_message);
        parts.push(`${first.full_title || first.title}${msg ? `: ${msg}` : ` (${first.status})`}`);
      } else if (job.error) {
        parts.push(firstLine(job.error.message));
      }
      if (tests) parts.push(`${job.test_cases.filter(isFailure).length} of ${tests} failed`);
      parts.push(formatDuration(job.duration_ms));
      break;
    }
    case 'error':
      parts.push(c.red('✘ error'));
      parts.push(job.error ? `${job.error.reason}: ${firstLine(job.error.message)}` : 'the job could not be run');
      parts.push(plural(job.attempts, 'attempt'));
      break;
    case 'timed_out':
      parts.push(c.red('✘ timed out'));
      if (job.error) parts.push(firstLine(job.error.message));
      parts.push(formatDuration(job.duration_ms));
      break;
    case 'cancelled':
      parts.push(c.yellow('⊘ cancelled'));
      if (job.error) parts.push(firstLine(job.error.message));
      break;
    default:
      parts.push(c.dim(`… ${job.status}`));
      if (job.waiting_reason) parts.push(job.waiting_reason);
  }
  if (video && isFinal(job.status) && job.status !== 'cancelled') parts.push(video);
  return parts.join(' · ');
}

/** One line per test case, indented, with the first line of each failure's message under it. */
export function testCaseLines(cases: readonly TestCaseResult[], c: Paint = plain): string[] {
  const out: string[] = [];
  for (const t of cases) {
    const mark = t.status === 'passed' ? c.green('✔') : t.status === 'skipped' ? c.dim('-') : c.red('✘');
    const retry = t.retry > 0 ? c.dim(` (retry ${t.retry})`) : '';
    out.push(`  ${mark} ${t.full_title || t.title} ${c.dim(formatDuration(t.duration_ms))}${retry}`);
    if (isFailure(t) && t.error_message) out.push(`      ${c.red(firstLine(t.error_message))}`);
  }
  return out;
}

/** The human view of one job (`qgjob status`). */
export function jobDetails(job: JobView, c: Paint = plain, nowMs: number = Date.now()): string[] {
  const row = (k: string, v: string) => `${c.dim(k.padEnd(9))}${v}`;
  const where = job.agent_id ? ` on ${job.agent_id}${job.slot_id ? `/${job.slot_id}` : ''}` : '';
  const lines = [
    row('job', c.bold(job.job_id)),
    row('status', `${job.status} (attempt ${job.attempts} of ${job.max_attempts})${where}`),
    row('org', job.org_id),
    row('build', job.app_version_id + (job.installed_build === true ? c.dim(' (installed for this attempt)') : job.installed_build === false ? c.dim(' (already on the device)') : '')),
    row('test', job.test_path),
    row('target', `${job.target} · ${job.platform} · priority ${job.priority}`),
    row('created', `${job.created_at} (${formatAge(job.created_at, nowMs)})`),
  ];
  if (job.started_at) lines.push(row('started', job.started_at));
  if (job.finished_at) lines.push(row('finished', `${job.finished_at} (${formatDuration(job.duration_ms)})`));
  if (job.status === 'queued' && job.not_before) lines.push(row('retry', `not before ${job.not_before} (backoff after an infrastructure error)`));
  if (job.status === 'queued' && job.waiting_reason) lines.push(row('waiting', job.waiting_reason));
  if (job.resubmitted_from) lines.push(row('from', `resubmitted from ${job.resubmitted_from}`));
  if (job.error) lines.push(row('error', `${job.error.reason}: ${firstLine(job.error.message)}`));
  if (job.video?.url) lines.push(row('video', job.video.url));
  else if (job.video_note) lines.push(row('video', c.dim(job.video_note)));
  if (isFinal(job.status)) {
    lines.push('', resultLine(job, c));
    lines.push(...testCaseLines(job.test_cases, c));
  }
  return lines;
}

/** Left-aligned columns separated by two spaces; cells may carry colour codes. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], c: Paint = plain): string[] {
  // eslint-disable-next-line no-control-regex
  const width = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i] - width(cell))))
      .join('  ')
      .trimEnd();
  return [c.dim(line(header)), ...rows.map(line)];
}

const statusColour = (status: string, c: Paint) =>
  status === 'passed' ? c.green(status) : status === 'failed' || status === 'error' || status === 'timed_out' ? c.red(status) : status === 'cancelled' ? c.yellow(status) : status;

/** The compact table of `qgjob list`. */
export function jobTable(jobs: readonly JobView[], c: Paint = plain, nowMs: number = Date.now()): string[] {
  return table(
    ['JOB', 'STATUS', 'ORG', 'BUILD', 'TARGET', 'PRI', 'CREATED', 'TEST'],
    jobs.map((j) => [
      j.job_id,
      statusColour(j.status, c),
      j.org_id,
      shorten(j.app_version_id, 24),
      `${j.target}/${j.platform}`,
      String(j.priority),
      formatAge(j.created_at, nowMs),
      shorten(j.test_path, 48),
    ]),
    c,
  );
}

/** The view of `qgjob agents`: one header line per agent, then a table of its slots. */
export function agentLines(agents: readonly AgentView[], c: Paint = plain, nowMs: number = Date.now()): string[] {
  if (agents.length === 0) return [c.dim('no agents have connected')];
  const out: string[] = [];
  for (const a of agents) {
    if (out.length) out.push('');
    const state = a.connected ? c.green('connected') : c.red(`disconnected, last seen ${formatAge(a.last_seen_at, nowMs)}`);
    out.push(`${c.bold(a.agent_id)}  ${a.name} · v${a.version} · ${state} · ${plural(a.slots.length, 'slot')}`);
    const rows = a.slots.map((s) => [
      s.slot_id,
      s.target,
      s.platform,
      s.device_name,
      s.installed_app_version_id ?? c.dim('–'),
      s.state === 'busy' && s.job_id ? `busy (${s.job_id})` : s.state === 'offline' ? c.red('offline') : s.state,
      String(s.installs),
    ]);
    out.push(...table(['SLOT', 'TARGET', 'PLATFORM', 'DEVICE', 'BUILD', 'STATE', 'INSTALLS'], rows, c).map((l) => `  ${l}`));
  }
  return out;
}

/** A short line for a state change or an install, e.g. `· queued → assigned (attempt 1)`. Log events give null. */
export function eventLine(e: JobEvent, c: Paint = plain): string | null {
  switch (e.type) {
    case 'state': {
      const move = e.from ? `${e.from} → ${e.to}` : e.to;
      const attempt = e.attempt > 0 ? ` (attempt ${e.attempt})` : '';
      const msg = e.message ? `: ${firstLine(e.message)}` : '';
      return c.dim(`· ${move}${attempt}${msg}`);
    }
    case 'install':
      return c.dim(`· installed build ${e.app_version_id} on ${e.slot_id} in ${formatDuration(e.duration_ms)} (attempt ${e.attempt})`);
    case 'log':
      return null;
  }
}

/** The field errors of a validation failure, one indented line each: `  --target (target): …`. */
export function fieldErrorLines(fields: FieldErrors | undefined, flagFor: (field: string) => string | undefined = () => undefined): string[] {
  if (!fields) return [];
  return Object.entries(fields).map(([field, msg]) => {
    const flag = flagFor(field);
    return `  ${flag ? `${flag} (${field})` : field}: ${msg}`;
  });
}
