/**
 * What a finished run looks like inside GitHub Actions: the Markdown step summary, the `::error`
 * annotations that point at failing spec files, and the step outputs. Pure functions from a
 * `RunView` (what `qgjob submit --wait --json` prints) to text; `github-summary.ts` writes them to
 * the files GitHub names in `GITHUB_STEP_SUMMARY` and `GITHUB_OUTPUT`.
 *
 * GitHub's rules followed here (docs: "Workflow commands for GitHub Actions"):
 * - a workflow command is one line `::name key=value,key=value::message`; in the message `%`, `\r`
 *   and `\n` are percent-encoded, in property values also `:` and `,`;
 * - GitHub shows at most 10 error annotations per step, so past 10 the last one counts the rest;
 * - a step summary may be at most 1 MiB, so failure details are cut to fit a smaller budget;
 * - a multiline-safe output is `name<<DELIMITER`, the value, `DELIMITER`, with a random delimiter.
 */
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import { z } from 'zod';
import { JOB_STATES, RUN_STATES, TEST_CASE_STATUSES, type JobState, type JobView, type RunState, type RunView, type TestCaseResult } from '../shared/index.js';
import { EXIT, exitCodeForRun, type ExitCode } from './exit-codes.js';
import { formatDuration } from './format.js';

/** Annotations of one kind GitHub shows per step. */
export const MAX_ANNOTATIONS = 10;
/** Bytes the step summary may take; GitHub refuses more than 1 MiB per step, this leaves room. */
export const SUMMARY_BUDGET_BYTES = 512 * 1024;
/** Characters of one failure message kept in the summary and in an annotation. */
const MESSAGE_MAX_CHARS = 4000;

export interface GithubViewOptions {
  /** The coordinator's URL as people reach it: job links point there. None → no links. */
  coordinatorUrl?: string;
  /**
   * The folder, relative to the repository root, that the spec paths are relative to (the action's
   * `test-root`): annotations name `<testRoot>/<test_path>` so GitHub can attach them to the file.
   */
  testRoot?: string;
}

// ───────────────────────────── reading ─────────────────────────────

const TestCaseRow = z.looseObject({
  title: z.string(),
  full_title: z.string().optional().default(''),
  status: z.enum(TEST_CASE_STATUSES),
  duration_ms: z.number().nonnegative().optional().default(0),
  error_message: z.string().nullable().optional().default(null),
  retry: z.number().int().nonnegative().optional().default(0),
});
const JobRow = z.looseObject({
  job_id: z.string().min(1),
  test_path: z.string().min(1),
  status: z.enum(JOB_STATES),
  attempts: z.number().int().nonnegative().optional().default(0),
  duration_ms: z.number().nullable().optional().default(null),
  error: z.object({ reason: z.string(), message: z.string() }).nullable().optional().default(null),
  test_cases: z.array(TestCaseRow).optional().default([]),
  video: z.looseObject({ url: z.string() }).nullable().optional().default(null),
  video_note: z.string().nullable().optional().default(null),
});
const RunDocument = z.looseObject({
  run_id: z.string().min(1),
  org_id: z.string().optional().default(''),
  app_version_id: z.string().optional().default(''),
  name: z.string().nullable().optional().default(null),
  status: z.enum(RUN_STATES),
  duration_ms: z.number().nullable().optional().default(null),
  jobs: z.array(JobRow),
});

/**
 * Parses the text of a RunView JSON document (the stdout of `qgjob submit --wait --json`). Checks
 * only the fields this module reads, so a RunView with more fields still reads.
 * @throws Error with a one-line reason when the text is not JSON or not a run.
 * @example const run = parseRunView(readFileSync('run.json', 'utf8'));
 */
export function parseRunView(text: string): RunView {
  if (text.trim() === '') throw new Error('the file is empty (did qgjob submit --wait --json fail before it printed the run?)');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`the file is not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const parsed = RunDocument.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.length ? issue.path.join('.') : 'the document';
    throw new Error(`the file is not a qgjob run (qgjob submit --wait --json): ${at}: ${issue.message}`);
  }
  return parsed.data as unknown as RunView;
}

// ───────────────────────────── verdicts ─────────────────────────────

/**
 * The exit status a CI step takes from a run: 0 passed, 1 a test failed, 3 an infrastructure end
 * (`error`, `cancelled`) or a run that has not ended (the wait was cut short: CI must not pass).
 * @example runExitCode('failed') // 1
 */
export function runExitCode(status: RunState): ExitCode {
  // A summary of a run that has not ended proves nothing: infrastructure, like an error.
  return status === 'queued' || status === 'running' ? EXIT.INFRA : exitCodeForRun(status);
}

/** Jobs that ended with a test verdict against them: `failed`, or `timed_out` (the spec ran too long). */
const isTestFailure = (s: JobState) => s === 'failed' || s === 'timed_out';
/** Test cases that count as failures. */
const isFailedCase = (t: TestCaseResult) => t.status === 'failed' || t.status === 'timedOut' || t.status === 'interrupted';

/** How many jobs of the run ended each way (what the outputs and the heading count). */
export function runTally(run: RunView): { total: number; passed: number; failed: number; errored: number; cancelled: number; unfinished: number } {
  const t = { total: run.jobs.length, passed: 0, failed: 0, errored: 0, cancelled: 0, unfinished: 0 };
  for (const j of run.jobs) {
    if (j.status === 'passed') t.passed++;
    else if (isTestFailure(j.status)) t.failed++;
    else if (j.status === 'error') t.errored++;
    else if (j.status === 'cancelled') t.cancelled++;
    else t.unfinished++;
  }
  return t;
}

// ───────────────────────────── text helpers ─────────────────────────────

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
/** Playwright's messages carry terminal colours; GitHub shows them as garbage. */
export const stripAnsi = (s: string): string => s.replace(ANSI, '');

const cut = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Escapes the message of a workflow command (`::error::<message>`). */
export const escapeData = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

/** Escapes a property value of a workflow command (`::error file=<value>,title=<value>::`). */
export const escapeProperty = (s: string): string => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

/**
 * One workflow command line. Properties with an undefined value are left out.
 * @example workflowCommand('error', { file: 'a.js', title: 'x: y' }, 'boom') // "::error file=a.js,title=x%3A y::boom"
 */
export function workflowCommand(name: string, props: Record<string, string | undefined>, message: string): string {
  const p = Object.entries(props)
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
    .map(([k, v]) => `${k}=${escapeProperty(v)}`)
    .join(',');
  return `::${name}${p ? ` ${p}` : ''}::${escapeData(message)}`;
}

/** Text for a Markdown paragraph or table cell: no HTML, no emphasis, no table breaks, one line. */
export function mdText(s: string): string {
  return s
    .replace(/\r?\n/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|#~])/g, '\\$1');
}

/**
 * An inline code span: backticks in `s` lengthen the fence. In a GFM table cell (`inTable`) a `|`
 * would end the cell even inside the span, so it is escaped there.
 */
export function mdCode(s: string, inTable = false): string {
  const flat = s.replace(/\r?\n/g, ' ');
  const one = inTable ? flat.replace(/\|/g, '\\|') : flat;
  const longest = Math.max(0, ...(one.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  const pad = one.startsWith('`') || one.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${one}${pad}${fence}`;
}

/** A fenced code block whose fence is longer than any backtick run inside `s`. */
function mdBlock(s: string): string {
  const longest = Math.max(2, ...(s.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}text\n${s}\n${fence}`;
}

const base = (url: string) => url.replace(/\/+$/, '');
/** The coordinator's page for a job (its state, attempts, test cases, video). */
export const jobUrl = (coordinatorUrl: string, jobId: string) => `${base(coordinatorUrl)}/api/v1/jobs/${encodeURIComponent(jobId)}`;
/** A URL that a Markdown link destination `(…)` holds as is. */
const mdHref = (url: string) => url.replace(/[()<>\s]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
/** A video URL as a link: absolute as given, relative ones against the coordinator. */
function videoHref(url: string, coordinatorUrl: string | undefined): string {
  if (/^https?:\/\//i.test(url) || !coordinatorUrl) return mdHref(url);
  return mdHref(`${base(coordinatorUrl)}/${url.replace(/^\/+/, '')}`);
}

/** Where a spec file is in the repository: `<testRoot>/<test_path>`, normalized, with forward slashes. */
export function specFile(testPath: string, testRoot?: string): string {
  const p = testPath.replace(/\\/g, '/');
  const root = (testRoot ?? '').replace(/\\/g, '/').trim();
  return posix.normalize(root && root !== '.' ? posix.join(root, p) : p).replace(/^\.\//, '');
}

const EMOJI: Record<JobState, string> = {
  passed: '✅',
  failed: '❌',
  timed_out: '⏱️',
  error: '💥',
  cancelled: '🚫',
  queued: '⏳',
  assigned: '⏳',
  running: '⏳',
};

const RUN_EMOJI: Record<RunState, string> = { passed: '✅', failed: '❌', error: '💥', cancelled: '🚫', queued: '⏳', running: '⏳' };

/** The run's verdict in a few words, e.g. `1 of 3 specs failed`. */
function headline(run: RunView): string {
  const t = runTally(run);
  const specs = plural(t.total, 'spec');
  switch (run.status) {
    case 'passed':
      return t.total === 1 ? 'the spec passed' : `all ${specs} passed`;
    case 'failed':
      return `${t.failed} of ${specs} failed`;
    case 'error':
      return `${t.errored} of ${specs} could not be run (infrastructure error)`;
    case 'cancelled':
      return 'the run was cancelled';
    default:
      return `the run has not finished: ${t.total - t.unfinished} of ${specs} done`;
  }
}

/** `3 tests: 2 passed, 1 failed`-like cell for a job's test cases. */
function casesCell(cases: readonly TestCaseResult[]): string {
  if (cases.length === 0) return '–';
  const passed = cases.filter((t) => t.status === 'passed').length;
  const failed = cases.filter(isFailedCase).length;
  const skipped = cases.filter((t) => t.status === 'skipped').length;
  const parts = [`${passed}/${cases.length} passed`];
  if (failed) parts.push(`${failed} failed`);
  if (skipped) parts.push(`${skipped} skipped`);
  return parts.join(', ');
}

/** Why a job did not pass, as lines of text (one block per failing test case, else the job's error). */
export function failureText(job: JobView): string {
  const blocks: string[] = [];
  for (const t of job.test_cases.filter(isFailedCase)) {
    const title = t.full_title || t.title;
    const msg = stripAnsi(t.error_message ?? '').trim();
    blocks.push(msg ? `${title} (${t.status})\n${cut(msg, MESSAGE_MAX_CHARS)}` : `${title} (${t.status})`);
  }
  if (blocks.length === 0 && job.error) blocks.push(`${job.error.reason}: ${cut(stripAnsi(job.error.message).trim(), MESSAGE_MAX_CHARS)}`);
  if (blocks.length === 0) blocks.push(job.status === 'cancelled' ? 'the job was cancelled' : `the job ended ${job.status}`);
  return blocks.join('\n\n');
}

// ───────────────────────────── the step summary ─────────────────────────────

/**
 * The Markdown step summary of a run: a heading with the verdict and counts, one table row per spec
 * (status, path, test cases, duration, video, job link), and the failures in a collapsed
 * `<details>`. Stays under SUMMARY_BUDGET_BYTES by leaving out failure details past it.
 * @example appendFileSync(process.env.GITHUB_STEP_SUMMARY!, stepSummary(run, { coordinatorUrl }))
 */
export function stepSummary(run: RunView, opts: GithubViewOptions = {}): string {
  const url = opts.coordinatorUrl;
  const t = runTally(run);
  const lines: string[] = [];
  lines.push(`### ${RUN_EMOJI[run.status]} qgjob run ${run.status}: ${mdText(headline(run))}`);
  lines.push('');
  const counts = [
    t.passed && `${t.passed} passed`,
    t.failed && `**${t.failed} failed**`,
    t.errored && `**${t.errored} error**`,
    t.cancelled && `${t.cancelled} cancelled`,
    t.unfinished && `${t.unfinished} not finished`,
  ].filter(Boolean);
  const about = [
    run.name ? `**${mdText(run.name)}**` : null,
    `run ${mdCode(run.run_id)}`,
    run.app_version_id ? `app ${mdCode(run.app_version_id)}` : null,
    run.org_id ? `org ${mdCode(run.org_id)}` : null,
    `${plural(t.total, 'spec')}: ${counts.join(', ') || 'none'}`,
    run.duration_ms !== null && run.duration_ms !== undefined ? formatDuration(run.duration_ms) : null,
  ].filter(Boolean);
  lines.push(about.join(' · '));
  lines.push('');
  lines.push('| | Spec | Tests | Duration | Video | Job |');
  lines.push('|:-:|---|---|--:|---|---|');
  for (const j of run.jobs) {
    const href = j.video?.url ? videoHref(j.video.url, url) : null;
    const video = !href ? '–' : /^https?:\/\//i.test(href) ? `[▶ video](${href})` : mdCode(j.video!.url, true);
    const jobCell = url ? `[${mdText(j.job_id)}](${jobUrl(url, j.job_id)})` : mdCode(j.job_id, true);
    const attempts = j.attempts > 1 ? ` (${j.attempts} attempts)` : '';
    lines.push(`| ${EMOJI[j.status]} ${j.status}${attempts} | ${mdCode(j.test_path, true)} | ${casesCell(j.test_cases)} | ${formatDuration(j.duration_ms)} | ${video} | ${jobCell} |`);
  }
  lines.push('');
  lines.push(`Logs of a job, replayed in full: ${mdCode(`qgjob watch <job-id>${url ? ` --url ${url}` : ''}`)}`);

  const failed = run.jobs.filter((j) => j.status !== 'passed' && j.status !== 'queued' && j.status !== 'assigned' && j.status !== 'running');
  let text = `${lines.join('\n')}\n`;
  if (failed.length === 0) return text;

  const head = `\n<details><summary>${failed.length === 1 ? 'Why 1 spec did not pass' : `Why ${failed.length} specs did not pass`}</summary>\n\n`;
  const tail = '</details>\n';
  text += head;
  let left = 0;
  for (const [i, j] of failed.entries()) {
    const section = [
      `#### ${EMOJI[j.status]} ${mdCode(j.test_path)} ${j.status}`,
      '',
      mdBlock(failureText(j)),
      '',
      `Logs: ${mdCode(`qgjob watch ${j.job_id}${url ? ` --url ${url}` : ''}`)}${url ? ` · [job details](${jobUrl(url, j.job_id)})` : ''}`,
      '',
      '',
    ].join('\n');
    if (Buffer.byteLength(text + section + tail) > SUMMARY_BUDGET_BYTES) {
      left = failed.length - i;
      break;
    }
    text += section;
  }
  if (left) text += `…and ${plural(left, 'more spec')} (left out to keep this summary under GitHub's size limit; see each job's logs).\n\n`;
  return text + tail;
}

// ───────────────────────────── annotations ─────────────────────────────

/**
 * `::error` lines for the specs that did not pass (`::warning` for cancelled ones), each pointing at
 * the spec file (`file=<testRoot>/<test_path>`) with a title and the failure messages. At most
 * MAX_ANNOTATIONS lines: past that the last line counts the rest.
 * @example for (const l of annotations(run, { testRoot: 'e2e' })) console.log(l)
 */
export function annotations(run: RunView, opts: GithubViewOptions = {}): string[] {
  const notPassed = run.jobs.filter((j) => isTestFailure(j.status) || j.status === 'error' || j.status === 'cancelled');
  const shown = notPassed.length > MAX_ANNOTATIONS ? notPassed.slice(0, MAX_ANNOTATIONS - 1) : notPassed;
  const out = shown.map((j) => {
    const what = j.status === 'error' ? `could not be run (${j.error?.reason ?? 'error'})` : j.status === 'timed_out' ? 'timed out' : j.status;
    const hint = `Logs: qgjob watch ${j.job_id}${opts.coordinatorUrl ? ` --url ${opts.coordinatorUrl}` : ''}`;
    return workflowCommand(
      j.status === 'cancelled' ? 'warning' : 'error',
      { file: specFile(j.test_path, opts.testRoot), title: `${j.test_path} ${what}` },
      `${failureText(j)}\n\n${hint}`,
    );
  });
  if (notPassed.length > shown.length) {
    const rest = notPassed.length - shown.length;
    out.push(workflowCommand('error', { title: `${plural(rest, 'more spec')} did not pass` }, `${notPassed.slice(shown.length).map((j) => `${j.test_path} ${j.status}`).join('\n')}\n\nSee the step summary of run ${run.run_id}.`));
  }
  return out;
}

// ───────────────────────────── outputs ─────────────────────────────

/**
 * The step outputs (small values only): run-id, status, total, passed, failed (failed or timed
 * out), errored, cancelled, and run-url when the coordinator's URL is known.
 */
export function stepOutputs(run: RunView, opts: GithubViewOptions = {}): Record<string, string> {
  const t = runTally(run);
  const out: Record<string, string> = {
    'run-id': run.run_id,
    status: run.status,
    total: String(t.total),
    passed: String(t.passed),
    failed: String(t.failed),
    errored: String(t.errored),
    cancelled: String(t.cancelled),
  };
  if (opts.coordinatorUrl) out['run-url'] = `${base(opts.coordinatorUrl)}/api/v1/runs/${encodeURIComponent(run.run_id)}`;
  return out;
}

/**
 * Outputs in the `$GITHUB_OUTPUT` file format, multiline-safe: `name<<DELIM`, value, `DELIM` for
 * each. `delimiter` makes the text deterministic in tests; by default a random one is drawn, and a
 * value that contains the delimiter is an error (GitHub would read it as the end of the value).
 * @example appendFileSync(process.env.GITHUB_OUTPUT!, formatOutputs({ 'run-id': 'run_1' }))
 */
export function formatOutputs(outputs: Record<string, string>, delimiter: string = `ghadelimiter_${randomUUID()}`): string {
  let text = '';
  for (const [name, value] of Object.entries(outputs)) {
    if (name.includes(delimiter) || value.includes(delimiter)) throw new Error(`output ${name} contains the delimiter ${delimiter}`);
    text += `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
  }
  return text;
}

/**
 * Reads a `$GITHUB_OUTPUT` file back (both `name=value` lines and `name<<DELIM` blocks), as the
 * runner does; later values win. For tests and for scripts that chain steps locally.
 */
export function parseOutputsFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line === '') continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delim] = heredoc;
      const value: string[] = [];
      for (i++; i < lines.length && lines[i]!.replace(/\r$/, '') !== delim; i++) value.push(lines[i]!);
      if (i >= lines.length) throw new Error(`output ${name} has no closing delimiter ${delim}`);
      out[name!] = value.join('\n');
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not an output line: ${line}`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}
