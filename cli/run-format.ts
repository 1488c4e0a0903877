/**
 * How the CLI prints runs: the progress line, one line per finished job, the closing summary, the
 * run's details (`qgjob status --run`) and the table of `qgjob runs`. Pure functions from data to
 * text; the commands decide which stream each piece goes to.
 */
import { isFinal, type JobState, type JobView, type RunView, type SubmitRunReply } from '../shared/index.js';
import { formatAge, formatDuration, type Paint, paintFor, table } from './format.js';

const plain: Paint = paintFor({ isTTY: false });
const firstLine = (s: string | null | undefined): string => (s ?? '').split('\n').map((l) => l.trim()).find(Boolean) ?? '';
const shorten = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

/** Per-state counts of some jobs. */
export function countStates(jobs: Iterable<JobView>): Record<JobState, number> {
  const n: Record<JobState, number> = { queued: 0, assigned: 0, running: 0, passed: 0, failed: 0, error: 0, cancelled: 0, timed_out: 0 };
  for (const j of jobs) n[j.status]++;
  return n;
}

/**
 * The compact progress of a run, e.g. `12/40 done · 10 passed · 1 failed · 1 running · 28 queued`.
 * `failed` counts timed-out jobs too; `error` and `cancelled` appear only when there are some.
 * @example progressLine(countStates(jobs), 40)
 */
export function progressLine(n: Record<JobState, number>, total: number, c: Paint = plain): string {
  const done = n.passed + n.failed + n.timed_out + n.error + n.cancelled;
  const failed = n.failed + n.timed_out;
  const parts = [`${done}/${total} done`, c.green(`${n.passed} passed`), failed ? c.red(`${failed} failed`) : `${failed} failed`];
  if (n.error) parts.push(c.red(`${n.error} error`));
  if (n.cancelled) parts.push(c.yellow(`${n.cancelled} cancelled`));
  parts.push(`${n.assigned + n.running} running`, `${n.queued} queued`);
  return parts.join(' · ');
}

const LABEL: Record<string, string> = { passed: 'passed', failed: 'failed', error: 'error', timed_out: 'timed out', cancelled: 'cancelled' };

/** Why a finished job did not pass, in one line (the first failing test's message, else the job's error). */
function reason(job: JobView): string {
  const failing = job.test_cases.find((t) => t.status === 'failed' || t.status === 'timedOut' || t.status === 'interrupted');
  if (failing) {
    const msg = firstLine(failing.error_message);
    return `${failing.full_title || failing.title}${msg ? `: ${msg}` : ` (${failing.status})`}`;
  }
  if (job.error) return job.status === 'error' ? `${job.error.reason}: ${firstLine(job.error.message)}` : firstLine(job.error.message);
  return '';
}

/**
 * One line for a finished job of a run, e.g. `✔ passed    tests/a.spec.js  2.1s` or
 * `✘ failed    tests/b.spec.js  user can log in: Element was not found`.
 */
export function jobEndLine(job: JobView, c: Paint = plain): string {
  const label = (LABEL[job.status] ?? job.status).padEnd(9);
  if (job.status === 'passed') return `${c.green(`✔ ${label}`)} ${job.test_path}  ${c.dim(formatDuration(job.duration_ms))}`;
  const mark = job.status === 'cancelled' ? c.yellow(`⊘ ${label}`) : c.red(`✘ ${label}`);
  const why = shorten(reason(job), 200);
  return `${mark} ${job.test_path}${why ? `  ${why}` : ''}`;
}

/**
 * The closing verdict of a run, e.g. `✘ failed · 2 jobs: 1 passed, 1 failed · 7.9s · run run_…`.
 * @example summaryLine(run, paintFor(process.stdout))
 */
export function summaryLine(run: RunView, c: Paint = plain): string {
  const verdict =
    run.status === 'passed'
      ? c.green('✔ passed')
      : run.status === 'cancelled'
        ? c.yellow('⊘ cancelled')
        : run.status === 'failed' || run.status === 'error'
          ? c.red(`✘ ${run.status}`)
          : c.dim(`… ${run.status}`);
  const n = run.counts;
  const parts = [`${n.passed} passed`];
  if (n.failed) parts.push(`${n.failed} failed`);
  if (n.timed_out) parts.push(`${n.timed_out} timed out`);
  if (n.error) parts.push(`${n.error} error`);
  if (n.cancelled) parts.push(`${n.cancelled} cancelled`);
  const unfinished = n.queued + n.assigned + n.running;
  if (unfinished) parts.push(`${unfinished} not finished`);
  return [verdict, `${run.total} job${run.total === 1 ? '' : 's'}: ${parts.join(', ')}`, formatDuration(run.duration_ms), `run ${run.run_id}`].join(' · ');
}

/** What `qgjob submit` prints for a submitted run without `--wait`: the run id, then each job id and its spec. */
export function submittedRunLines(reply: SubmitRunReply): string[] {
  return [reply.run_id, ...table(['JOB', 'TEST'], reply.jobs.map((j) => [j.job_id, j.test_path])).slice(1).map((l) => `  ${l}`)];
}

const statusColour = (status: string, c: Paint) =>
  status === 'passed' ? c.green(status) : status === 'failed' || status === 'error' || status === 'timed_out' ? c.red(status) : status === 'cancelled' ? c.yellow(status) : status;

/** The human view of one run (`qgjob status --run`): header, progress, then one row per job. */
export function runDetails(run: RunView, c: Paint = plain, nowMs: number = Date.now()): string[] {
  const row = (k: string, v: string) => `${c.dim(k.padEnd(9))}${v}`;
  const lines = [row('run', c.bold(run.run_id) + (run.name ? `  ${run.name}` : '')), row('status', `${statusColour(run.status, c)} · ${progressLine(run.counts, run.total, c)}`), row('org', run.org_id), row('build', run.app_version_id)];
  lines.push(row('created', `${run.created_at} (${formatAge(run.created_at, nowMs)})`));
  if (run.finished_at) lines.push(row('finished', `${run.finished_at} (${formatDuration(run.duration_ms)})`));
  if (run.rerun_of) lines.push(row('rerun of', run.rerun_of));
  if (run.idempotency_key) lines.push(row('key', run.idempotency_key));
  lines.push('');
  lines.push(
    ...table(
      ['JOB', 'STATUS', 'TIME', 'TEST', 'DETAIL'],
      run.jobs.map((j) => [
        j.job_id,
        statusColour(j.status, c),
        isFinal(j.status) ? formatDuration(j.duration_ms) : '–',
        j.test_path,
        j.status === 'passed' ? '' : isFinal(j.status) ? shorten(reason(j), 120) : (j.waiting_reason ?? ''),
      ]),
      c,
    ),
  );
  if (run.done === run.total) lines.push('', summaryLine(run, c));
  return lines;
}

/** The table of `qgjob runs`. */
export function runTable(runs: readonly RunView[], c: Paint = plain, nowMs: number = Date.now()): string[] {
  return table(
    ['RUN', 'STATUS', 'DONE', 'PASSED', 'FAILED', 'ORG', 'BUILD', 'CREATED', 'NAME'],
    runs.map((r) => [
      r.run_id,
      statusColour(r.status, c),
      `${r.done}/${r.total}`,
      String(r.counts.passed),
      String(r.counts.failed + r.counts.timed_out),
      r.org_id,
      shorten(r.app_version_id, 24),
      formatAge(r.created_at, nowMs),
      r.name ? shorten(r.name, 40) : c.dim('–'),
    ]),
    c,
  );
}
