/**
 * `qgjob`, the command line: a thin shell over `QgClient`. Each command turns its flags into a
 * typed request (the job spec is parsed with the shared `JobSpec` schema, exactly as the HTTP API
 * parses it), calls the client, and prints: results to stdout, everything else to stderr, and with
 * `--json` exactly one JSON document shaped like the API response. Exit statuses: exit-codes.ts.
 *
 * This module is also the cli room's door: it re-exports the client for the end-to-end tests.
 * It has no side effect on import; `bin/qgjob.js` calls `runCli`.
 */
import { cac, type CAC, type Command } from 'cac';
import {
  AppUploadFields,
  AppUrlRegistration,
  BUILD_MODES,
  BuildFileName,
  JobSpec,
  JobState,
  JOB_STATES,
  QgError,
  VERSION,
  buildFileExtension,
  fieldErrors,
  type AppUploadReply,
  type FieldErrors,
  type Platform,
} from '../shared/index.js';
import { positionals, rawOption, rawOptions } from './argv.js';
import { DEFAULT_COORDINATOR_URL, QgClient, type JobFilter } from './client.js';
import { EXIT, exitCodeForError, exitCodeForJob, isCacError } from './exit-codes.js';
import type { RunCtx } from './run-commands.js';
import { agentLines, fieldErrorLines, jobDetails, jobTable, paintFor, resultLine, testCaseLines } from './format.js';

export { DEFAULT_COORDINATOR_URL, QgClient, watchJob, type JobFilter, type QgClientOptions, type WatchOptions } from './client.js';
export { EXIT, exitCodeForError, exitCodeForJob, exitCodeForRun, type ExitCode } from './exit-codes.js';
export { watchRun, type RunWatchOptions } from './watch-run.js';
export type { RunFilter } from './client.js';

/** The flag that sets each API field, so a field error (ours or the server's) names what to fix. */
const FLAG_FOR_FIELD: Record<string, string> = {
  org_id: '--org-id',
  app_version_id: '--app-version-id',
  test_path: '--test',
  priority: '--priority',
  target: '--target',
  platform: '--platform',
  max_attempts: '--max-attempts',
  timeout_ms: '--timeout-ms',
  test_retries: '--test-retries',
  build: '--build',
  file: '--file',
  file_name: '--file-name',
  sha256: '--sha256',
  status: '--status',
  limit: '--limit',
  cursor: '--cursor',
  job_id: '--job-id',
  port: '--port',
  tests: '--test',
  name: '--name',
  idempotency_key: '--idempotency-key',
  run_id: '--run',
};

/** In `qgjob app`, the API's `url` (a build's URL) is set by --build-url: --url is the coordinator's. */
const flagForField = (field: string, command?: string): string | undefined =>
  command === 'app' && field === 'url' ? '--build-url' : (FLAG_FOR_FIELD[field] ?? FLAG_FOR_FIELD[field.split('.')[0]!]);

const usage = (message: string, fields?: FieldErrors) => new QgError('validation_failed', message, fields);

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);
const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));

/** What every action gets: the raw argv (for exact values) and cac's parsed options (for booleans). */
interface Ctx {
  argv: readonly string[];
  opts: Record<string, unknown>;
  command: Command;
}

/** The value of `--<name>` exactly as typed. */
const flag = (ctx: Ctx, name: string): string | undefined => {
  const camel = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return rawOption(ctx.argv, name, ctx.opts[camel]);
};
const bool = (ctx: Ctx, name: string) => ctx.opts[name] === true;

/** Coordinator URL: `--url`, else QGJOB_URL, else http://127.0.0.1:8080. */
function coordinatorUrl(ctx: Ctx): string {
  const url = flag(ctx, 'url') ?? process.env.QGJOB_URL ?? DEFAULT_COORDINATOR_URL;
  let ok = false;
  try {
    ok = ['http:', 'https:'].includes(new URL(url).protocol);
  } catch {
    ok = false;
  }
  if (!ok) throw usage(`--url must be an http(s) URL such as ${DEFAULT_COORDINATOR_URL}, got "${url}"`);
  return url;
}
/** API token: `--token`, else QGJOB_TOKEN. Prefer the variable: a flag shows in `ps` to every user of the machine. */
function apiToken(ctx: Ctx): string | undefined {
  return flag(ctx, 'token') ?? (process.env.QGJOB_TOKEN || undefined);
}
const clientFor = (ctx: Ctx) => {
  const token = apiToken(ctx);
  return new QgClient({ url: coordinatorUrl(ctx), ...(token ? { token } : {}) });
};

/** A number flag handed to zod as a number when it looks like one, else as typed (zod then names the problem). */
const numeric = (v: string | undefined): number | string | undefined =>
  v === undefined ? undefined : /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v;

/** The job id of `status`/`watch`/`cancel`: the positional argument, or `--job-id`. */
function jobIdFrom(ctx: Ctx): string {
  const [positional] = positionals(ctx.argv, ctx.command);
  const named = flag(ctx, 'job-id');
  if (positional !== undefined && named !== undefined && positional !== named) {
    throw usage(`two different job ids given ("${positional}" and --job-id "${named}"): pass one`);
  }
  const id = (positional ?? named)?.trim();
  if (!id) throw usage(`missing the job id: qgjob ${ctx.command.name} <job-id>${ctx.command.hasOption('jobId') ? ' (or --job-id <id>)' : ''}`);
  return id;
}

/** What the run commands (run-commands.ts) read. */
const runCtx = (ctx: Ctx): RunCtx => ({
  flag: (name) => flag(ctx, name),
  flags: (name) => rawOptions(ctx.argv, name, ctx.opts[name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())]),
  bool: (name) => bool(ctx, name),
  positionals: () => positionals(ctx.argv, ctx.command),
  client: () => clientFor(ctx),
  flagFor: (field) => flagForField(field, ctx.command.name),
});

// ───────────────────────────── commands ─────────────────────────────

/** Turns the submit flags into a `JobSpec`, with the same schema the HTTP API uses. */
function jobSpecFrom(ctx: Ctx): JobSpec {
  const required: Array<[flag: string, field: string]> = [
    ['--org-id <id>', 'org-id'],
    ['--app-version-id <id>', 'app-version-id'],
    ['--test <path>', 'test'],
    ['--target <target>', 'target'],
  ];
  const missing = required.filter(([, name]) => flag(ctx, name) === undefined).map(([f]) => f);
  if (missing.length) throw usage(`missing required option${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);

  const parsed = JobSpec.safeParse({
    org_id: flag(ctx, 'org-id'),
    app_version_id: flag(ctx, 'app-version-id'),
    test_path: flag(ctx, 'test'),
    target: flag(ctx, 'target'),
    platform: flag(ctx, 'platform'),
    priority: numeric(flag(ctx, 'priority')),
    max_attempts: numeric(flag(ctx, 'max-attempts')),
    timeout_ms: numeric(flag(ctx, 'timeout-ms')),
    test_retries: numeric(flag(ctx, 'test-retries')),
    build: flag(ctx, 'build'),
  });
  if (!parsed.success) {
    const fields = fieldErrors(parsed.error.issues);
    const flags = Object.keys(fields).map((f) => FLAG_FOR_FIELD[f] ?? f);
    throw usage(`invalid value for ${flags.join(', ')}`, fields);
  }
  return parsed.data;
}

async function submit(ctx: Ctx): Promise<number> {
  // Several tests or a glob: a run (run-commands.ts). Exactly one plain --test: one job, as always.
  const { runTests, submitRun } = await import('./run-commands.js');
  const tests = await runTests(runCtx(ctx));
  if (tests) return submitRun(runCtx(ctx), tests);
  const spec = jobSpecFrom(ctx);
  const client = clientFor(ctx);
  const json = bool(ctx, 'json');
  const wait = bool(ctx, 'wait');
  const reply = await client.submit(spec);
  if (!wait) {
    if (json) printJson(reply);
    else {
      out(reply.job_id);
      err(paintFor(process.stderr).dim(`queued ${spec.org_id}/${spec.app_version_id} ${spec.test_path} on ${spec.target}/${spec.platform} (priority ${spec.priority})`));
    }
    return EXIT.OK;
  }
  err(paintFor(process.stderr).dim(`queued job ${reply.job_id}; following it (Ctrl-C stops following, not the job)`));
  return follow(ctx, client.url, reply.job_id, 'logs');
}

/** Follows a job to its end, prints the verdict and test cases, and returns the job's exit status. */
async function follow(ctx: Ctx, url: string, jobId: string, show: 'logs' | 'states'): Promise<number> {
  const json = bool(ctx, 'json');
  const { followJob } = await import('./follow.js');
  const token = apiToken(ctx);
  const job = await followJob({ url, jobId, show, json, ...(token ? { token } : {}) });
  if (json) {
    printJson(job);
  } else {
    const c = paintFor(process.stdout);
    out(resultLine(job, c));
    for (const l of testCaseLines(job.test_cases, c)) out(l);
  }
  return exitCodeForJob(job.status);
}

async function status(ctx: Ctx): Promise<number> {
  const runId = flag(ctx, 'run');
  if (runId !== undefined) {
    if (positionals(ctx.argv, ctx.command).length || flag(ctx, 'job-id') !== undefined) throw usage('give a job id or --run <run-id>, not both');
    return (await import('./run-commands.js')).runStatusCommand(runCtx(ctx), runId);
  }
  const jobId = jobIdFrom(ctx);
  const client = clientFor(ctx);
  if (bool(ctx, 'watch')) return follow(ctx, client.url, jobId, 'states');
  const job = await client.getJob(jobId);
  if (bool(ctx, 'json')) printJson(job);
  else {
    for (const l of jobDetails(job, paintFor(process.stdout))) out(l);
  }
  return EXIT.OK;
}

async function watch(ctx: Ctx): Promise<number> {
  const jobId = jobIdFrom(ctx);
  return follow(ctx, coordinatorUrl(ctx), jobId, 'logs');
}

async function cancel(ctx: Ctx): Promise<number> {
  const runId = flag(ctx, 'run');
  if (runId !== undefined) {
    if (positionals(ctx.argv, ctx.command).length) throw usage('give a job id or --run <run-id>, not both');
    return (await import('./run-commands.js')).cancelRunCommand(runCtx(ctx), runId);
  }
  const jobId = jobIdFrom(ctx);
  const job = await clientFor(ctx).cancel(jobId);
  if (bool(ctx, 'json')) printJson(job);
  else out(`${job.job_id} ${job.status}`);
  return EXIT.OK;
}

async function resubmit(ctx: Ctx): Promise<number> {
  const jobId = jobIdFrom(ctx);
  const reply = await clientFor(ctx).resubmit(jobId);
  if (bool(ctx, 'json')) printJson(reply);
  else out(reply.job_id);
  return EXIT.OK;
}

async function rerun(ctx: Ctx): Promise<number> {
  return (await import('./run-commands.js')).rerunCommand(runCtx(ctx));
}

async function runs(ctx: Ctx): Promise<number> {
  return (await import('./run-commands.js')).runsCommand(runCtx(ctx));
}

async function list(ctx: Ctx): Promise<number> {
  const filter: JobFilter = {};
  const org = flag(ctx, 'org-id');
  if (org !== undefined) filter.org_id = org;
  const app = flag(ctx, 'app-version-id');
  if (app !== undefined) filter.app_version_id = app;
  const st = flag(ctx, 'status');
  if (st !== undefined) {
    const parsed = JobState.safeParse(st);
    if (!parsed.success) throw usage('invalid value for --status', { status: `must be one of ${JOB_STATES.join(', ')}` });
    filter.status = parsed.data;
  }
  const limit = flag(ctx, 'limit');
  if (limit !== undefined) {
    if (!/^\s*\d+\s*$/.test(limit) || Number(limit) < 1) throw usage('invalid value for --limit', { limit: `must be a positive integer, got "${limit}"` });
    filter.limit = Number(limit);
  }
  const cursor = flag(ctx, 'cursor');
  if (cursor !== undefined) filter.cursor = cursor;

  const page = await clientFor(ctx).listJobs(filter);
  if (bool(ctx, 'json')) {
    printJson(page);
    return EXIT.OK;
  }
  const c = paintFor(process.stdout);
  if (page.jobs.length === 0) err(paintFor(process.stderr).dim('no jobs match'));
  else for (const l of jobTable(page.jobs, c)) out(l);
  if (page.next_cursor) err(paintFor(process.stderr).dim(`more jobs: add --cursor ${page.next_cursor}`));
  return EXIT.OK;
}

async function agents(ctx: Ctx): Promise<number> {
  const list = await clientFor(ctx).agents();
  if (bool(ctx, 'json')) printJson({ agents: list });
  else {
    for (const l of agentLines(list, paintFor(process.stdout))) out(l);
  }
  return EXIT.OK;
}

/** The platform a build file name implies, when it implies one (`.apk`/`.aab` Android, `.ipa`/`.app.zip` iOS). */
function platformOf(fileName: string): Platform | undefined {
  const ext = buildFileExtension(fileName);
  return ext === '.apk' || ext === '.aab' ? 'android' : ext === '.ipa' || ext === '.app.zip' ? 'ios' : undefined;
}

/** Turns a zod failure on `qgjob app` input into a usage error naming the flags. */
function usageFrom(issues: Parameters<typeof fieldErrors>[0]): QgError {
  const fields = fieldErrors(issues);
  return usage(`invalid value for ${Object.keys(fields).map((f) => flagForField(f, 'app') ?? f).join(', ')}`, fields);
}

/** `qgjob app upload …` and `qgjob app show <app_version_id>`. */
async function app(ctx: Ctx): Promise<number> {
  const [action, ...rest] = positionals(ctx.argv, ctx.command);
  if (action === 'upload') {
    if (rest.length) throw usage(`app upload takes no argument (got "${rest[0]}"): pass --app-version-id and --file or --build-url`);
    return appUpload(ctx);
  }
  if (action === 'show') return appShow(ctx, rest);
  throw usage(`unknown app action "${action ?? ''}": use qgjob app upload … or qgjob app show <app_version_id>`);
}

async function appUpload(ctx: Ctx): Promise<number> {
  const appVersionId = flag(ctx, 'app-version-id');
  const file = flag(ctx, 'file');
  const buildUrl = flag(ctx, 'build-url');
  if (appVersionId === undefined) throw usage('missing required option --app-version-id <id>');
  if ((file === undefined) === (buildUrl === undefined)) throw usage('give the build as exactly one of --file <path> or --build-url <url>');
  let name = '';
  if (file !== undefined) name = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
  else {
    try {
      name = decodeURIComponent(new URL(buildUrl!).pathname.split('/').pop() ?? '');
    } catch {
      name = '';
    }
  }
  const platform = flag(ctx, 'platform') ?? platformOf(flag(ctx, 'file-name') ?? name);
  if (platform === undefined) throw usage(`missing --platform android|ios (the file name "${name}" does not tell it)`);
  const client = clientFor(ctx);
  let reply: AppUploadReply;
  if (file !== undefined) {
    for (const only of ['sha256', 'file-name']) if (flag(ctx, only) !== undefined) throw usage(`--${only} goes with --build-url, not --file`);
    const fields = AppUploadFields.safeParse({ app_version_id: appVersionId, platform });
    if (!fields.success) throw usageFrom(fields.error.issues);
    const fileName = BuildFileName.safeParse(name);
    if (!fileName.success) throw usage(`invalid value for --file`, { file: `the file name "${name}" ${fileName.error.issues[0]?.message.replace(/^file_name /, '')}` });
    reply = await client.uploadApp({ ...fields.data, file });
  } else {
    const reg = AppUrlRegistration.safeParse({ app_version_id: appVersionId, platform, url: buildUrl, file_name: flag(ctx, 'file-name'), sha256: flag(ctx, 'sha256') });
    if (!reg.success) throw usageFrom(reg.error.issues);
    reply = await client.registerAppUrl(reg.data);
  }
  if (bool(ctx, 'json')) {
    printJson(reply);
    return EXIT.OK;
  }
  const { buildLines, outcomeLine } = await import('./build-format.js');
  err(paintFor(process.stderr).dim(outcomeLine(reply)));
  for (const l of buildLines(reply, paintFor(process.stdout))) out(l);
  return EXIT.OK;
}

async function appShow(ctx: Ctx, rest: string[]): Promise<number> {
  const named = flag(ctx, 'app-version-id');
  if (rest.length > 1 || (rest[0] !== undefined && named !== undefined && rest[0] !== named)) throw usage('give one app_version_id: qgjob app show <app_version_id>');
  const id = (rest[0] ?? named)?.trim();
  if (!id) throw usage('missing the app_version_id: qgjob app show <app_version_id>');
  const build = await clientFor(ctx).getApp(id);
  if (bool(ctx, 'json')) printJson(build);
  else {
    const { buildLines } = await import('./build-format.js');
    for (const l of buildLines(build, paintFor(process.stdout))) out(l);
  }
  return EXIT.OK;
}

async function coordinator(ctx: Ctx): Promise<number> {
  if (flag(ctx, 'token') !== undefined) {
    throw usage('the coordinator takes its tokens from the environment only (QGJOB_TOKENS, QGJOB_AGENT_TOKEN): flags show in ps');
  }
  const { runCoordinator } = await import('./serve.js');
  return runCoordinator({ host: flag(ctx, 'host'), port: flag(ctx, 'port'), database: flag(ctx, 'database'), dataDir: flag(ctx, 'data-dir') });
}

async function agent(ctx: Ctx): Promise<number> {
  const { runAgent } = await import('./serve.js');
  const names = ['url', 'project', 'config', 'agent-id', 'name', 'app', 'target', 'platform', 'device-name', 'appium-url', 'capabilities', 'slot-id', 'work-dir', 'shutdown-grace-ms', 'token'] as const;
  const flags: Record<string, string> = {};
  for (const n of names) {
    const v = flag(ctx, n);
    if (v !== undefined) flags[n.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  }
  return runAgent(flags);
}

// ───────────────────────────── program ─────────────────────────────

const URL_HELP = `Coordinator URL (default: $QGJOB_URL, else ${DEFAULT_COORDINATOR_URL})`;

/** Declares every command and option; the `action`s receive a `Ctx` through `bind`. */
function program(): { cli: CAC; actions: Map<Command, (ctx: Ctx) => Promise<number>> } {
  const cli = cac('qgjob');
  const actions = new Map<Command, (ctx: Ctx) => Promise<number>>();
  const def = (cmd: Command, fn: (ctx: Ctx) => Promise<number>) => {
    actions.set(cmd, fn);
    return cmd.action(() => undefined);
  };

  def(
    cli
      .command('submit', 'Queue an AppWright spec for an app build (prints the job id), or a suite as one run (several --test or a glob)')
      .usage('submit --org-id <id> --app-version-id <id> --test <path|glob> [--test …] --target <target> [options]')
      .option('--org-id <id>', 'Organization that owns the job (required)')
      .option('--app-version-id <id>', 'App build under test; jobs are grouped by it (required)')
      .option('--test <path>', "Spec to run, relative to the test project (required). Repeat it, or give a quoted glob ('tests/**/*.spec.js'), to submit a run: one job per spec")
      .option('--test-root <dir>', 'Folder globs are expanded in: the test project (default: the current folder); paths are sent relative to it')
      .option('--run', 'Submit a run even for a single plain --test (its output is then a run\'s)')
      .option('--name <name>', 'Run: a label people recognise, e.g. "CI #812 (push main)" (implies a run)')
      .option('--idempotency-key <key>', 'Run: resubmitting with the same key returns the same run instead of a second one (implies a run; default: $QGJOB_IDEMPOTENCY_KEY, else on GitHub Actions github:<repo>:<run id>:<attempt>:<job>)')
      .option('--target <target>', 'emulator | device | browserstack (required)')
      .option('--platform <platform>', 'android | ios (default: android)')
      .option('--priority <n>', 'Priority within the org, 1 (lowest) to 10 (highest) (default: 5)')
      .option('--max-attempts <n>', 'Attempts before the job ends in error, 1 to 10 (default: 3)')
      .option('--timeout-ms <ms>', 'Deadline of a running attempt; past it the job ends timed_out (default: 1800000)')
      .option('--test-retries <n>', "Playwright retries of a failing test inside one run, 0 to 5 (default: 0)")
      .option('--build <mode>', `Where agents get the build: ${BUILD_MODES.join(' | ')} (default: auto = the uploaded build if there is one, else the agent's own; registry refuses a version with no uploaded build)`)
      .option('--wait', 'Follow the job (or run) live and exit with its result (0 passed, 1 failed, 3 error or cancelled)')
      .option('--json', 'Print one JSON document: {job_id,status}, or the final job with --wait; for a run {run_id,created,jobs}, or the final run with --wait (progress goes to stderr)')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} submit --org-id qualgent --app-version-id xyz123 --test tests/onboarding.spec.js --target emulator --wait`)
      .example((bin) => `  $ ${bin} submit --org-id qualgent --app-version-id xyz123 --target emulator --test 'tests/**/*.spec.js' --test-root e2e --name "CI #812" --wait --json`),
    submit,
  );
  def(
    cli
      .command('status [jobId]', "Show a job's state, result and video link, or a run's progress and jobs (--run)")
      .option('--job-id <id>', 'The job (instead of the argument)')
      .option('--run <id>', 'Show this run instead: its status, counts and one line per job')
      .option('--watch', 'Follow state changes until the job (or run) ends; exit with its result')
      .option('--json', 'Print the job (or run) as one JSON document')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} status --job-id job_01M89ECP7T3RV1B4F1E4X69QCB --watch`)
      .example((bin) => `  $ ${bin} status --run run_01M89ECP7T3RV1B4F1E4X69QCB --watch`),
    status,
  );
  def(
    cli
      .command('watch <jobId>', "Stream a job's log lines live, then its result; exit with the result")
      .option('--json', 'Log lines go to stderr; print the final job as one JSON document')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} watch job_01M89ECP7T3RV1B4F1E4X69QCB`),
    watch,
  );
  def(
    cli
      .command('cancel [jobId]', 'Cancel a queued or running job, or every unfinished job of a run (--run)')
      .option('--run <id>', 'Cancel this run instead')
      .option('--json', 'Print the cancelled job (or run) as one JSON document')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} cancel job_01M89ECP7T3RV1B4F1E4X69QCB`)
      .example((bin) => `  $ ${bin} cancel --run run_01M89ECP7T3RV1B4F1E4X69QCB`),
    cancel,
  );
  def(
    cli
      .command('rerun [runId]', 'Submit the jobs of an ended run that did not pass (failed, error, timed_out, cancelled) as a new run')
      .option('--failed', 'Only the jobs that did not pass (the default)')
      .option('--all', 'Every job of the run')
      .option('--run <id>', 'The run (instead of the argument)')
      .option('--idempotency-key <key>', 'Rerunning again with the same key returns the same rerun')
      .option('--wait', 'Follow the new run live and exit with its result (0 passed, 1 failed, 3 error or cancelled)')
      .option('--json', 'Print one JSON document: {run_id,created,jobs}, or the final run with --wait')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} rerun --failed run_01M89ECP7T3RV1B4F1E4X69QCB --wait`),
    rerun,
  );
  def(
    cli
      .command('runs', 'List runs, newest first')
      .option('--org-id <id>', 'Only this organization')
      .option('--status <status>', 'Only runs in this state: queued | running | passed | failed | error | cancelled')
      .option('--limit <n>', 'Page size, 1 to 100 (default: 20)')
      .option('--cursor <cursor>', 'Next page: the cursor printed after the previous page')
      .option('--json', 'Print the page as one JSON document: {runs, next_cursor}')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} runs --org-id qualgent --status failed --limit 10`),
    runs,
  );
  def(
    cli
      .command('resubmit <jobId>', 'Queue an ended job again as a new job with the same spec (e.g. from `list --status error`)')
      .option('--json', 'Print one JSON document: {job_id,status}')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} resubmit job_01M89ECP7T3RV1B4F1E4X69QCB`),
    resubmit,
  );
  def(
    cli
      .command('list', 'List jobs, newest first')
      .option('--org-id <id>', 'Only this organization')
      .option('--status <status>', `Only jobs in this state: ${JOB_STATES.join(' | ')}`)
      .option('--app-version-id <id>', 'Only this app build')
      .option('--limit <n>', 'Page size, 1 to 200 (default: 50)')
      .option('--cursor <cursor>', 'Next page: the cursor printed after the previous page')
      .option('--json', 'Print the page as one JSON document: {jobs, next_cursor}')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} list --org-id qualgent --status failed --limit 20`),
    list,
  );
  def(
    cli
      .command('agents', 'List agents and their device slots (target, platform, device, installed build, state)')
      .option('--json', 'Print one JSON document: {agents}')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} agents --url http://10.0.0.5:8080`),
    agents,
  );
  def(
    cli
      .command('app <action> [appVersionId]', 'App builds: `app upload` stores a build file (or registers a URL) under an app version; `app show <id>` shows it')
      .usage('app upload --app-version-id <id> [--platform android|ios] (--file <path> | --build-url <url>) [--json]\n  $ qgjob app show <app_version_id> [--json]')
      .option('--app-version-id <id>', 'The app version the build is; jobs name it (upload: required)')
      .option('--platform <platform>', 'android | ios (default: from the file name: .apk/.aab android, .ipa/.app.zip ios; else required)')
      .option('--file <path>', 'Upload this build file: .apk .aab .ipa .zip .app.zip (.xml: the Appium fake driver)')
      .option('--build-url <url>', 'Register the build at this http(s) URL instead (the coordinator reads it once to hash it)')
      .option('--file-name <name>', "With --build-url: the build's file name, when the URL's path does not end in one")
      .option('--sha256 <hex>', 'With --build-url: the sha256 the bytes at the URL must have')
      .option('--json', 'Print one JSON document: the build (upload: with outcome created | unchanged | replaced)')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} app upload --app-version-id xyz123 --platform android --file build/app-release.apk`),
    app,
  );
  def(
    cli
      .command('coordinator', 'Run a coordinator (HTTP API and Socket.IO on one port) until SIGINT/SIGTERM')
      .option('--host <host>', 'Interface to listen on (default: $QGJOB_HOST, else 127.0.0.1)')
      .option('--port <port>', 'Port; 0 picks a free one (default: $QGJOB_PORT, else 8080)')
      .option('--database <url>', 'mysql://user:pass@host:3306/db or sqlite:<file> (default: $DATABASE_URL, else <data-dir>/qgjob.sqlite)')
      .option('--data-dir <dir>', 'Folder for local state (default: $QGJOB_DATA_DIR, else .qgjob)')
      .example((bin) => `  $ ${bin} coordinator --host 0.0.0.0 --port 8080 --database mysql://qgjob:secret@127.0.0.1:3306/qgjob`),
    coordinator,
  );
  def(
    cli
      .command('agent', 'Run a device-lab agent: one device from flags, or a lab from --config')
      .option('--url <url>', `Coordinator URL (default: $QGJOB_URL, else the config's url, else ${DEFAULT_COORDINATOR_URL})`)
      .option('--project <dir>', 'The AppWright test project (folder with appwright.config.ts and the specs)')
      .option('--config <file>', 'Lab config JSON (see examples/lab.json); flags override it')
      .option('--agent-id <id>', 'Stable agent id (default: from the host name and slot ids)')
      .option('--name <name>', 'Name shown by `qgjob agents` (default: the host name)')
      .option('--app <file>', 'App build installed for every app version (apps = {"*": file})')
      .option('--target <target>', 'Slot target: emulator | device | browserstack')
      .option('--platform <platform>', 'Slot platform: android | ios (default: android)')
      .option('--device-name <name>', 'Slot device name (default: "<platform> <target>")')
      .option('--appium-url <url>', 'Appium/WebDriver URL of the device, e.g. http://127.0.0.1:4723')
      .option('--capabilities <json>', 'Extra capabilities as a JSON object, e.g. \'{"appium:udid":"emulator-5554"}\'')
      .option('--slot-id <id>', 'Slot id (default: "<target>-<platform>")')
      .option('--work-dir <dir>', 'Folder for per-attempt work folders (default: .qgjob/agent)')
      .option('--shutdown-grace-ms <ms>', 'On SIGTERM/SIGINT, how long running specs may finish before they are handed back (default: 30000)')
      .example((bin) => `  $ ${bin} agent --url http://127.0.0.1:8080 --config examples/lab.json`),
    agent,
  );

  cli.option('--token <token>', "API token of your org (default: $QGJOB_TOKEN); for `agent`, the agent token (default: $QGJOB_AGENT_TOKEN). Prefer the variables: a flag shows in ps");
  cli.help();
  cli.version(VERSION);
  cli.example((bin) => `  $ ${bin} submit --org-id qualgent --app-version-id xyz123 --test tests/onboarding.spec.js --target emulator`);
  return { cli, actions };
}

/**
 * Prints an error the one way the CLI prints errors, and returns its exit status:
 * `qgjob: <reason>` on stderr, then one indented line per field error.
 */
function report(e: unknown, command: Command | undefined): number {
  const code = exitCodeForError(e);
  if (isCacError(e)) {
    const help = command ? `qgjob ${command.name} --help` : 'qgjob --help';
    err(`qgjob: ${e.message.replace(/^\w/, (ch) => ch.toLowerCase())} (see ${help})`);
  } else if (e instanceof QgError) {
    err(`qgjob: ${e.message}`);
    // Field lines add what the reason line does not already say.
    const extra = Object.fromEntries(Object.entries(e.fields ?? {}).filter(([, msg]) => !e.message.includes(msg)));
    for (const l of fieldErrorLines(extra, (f) => flagForField(f, command?.name))) err(l);
  } else {
    err(`qgjob: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
  return code;
}

/**
 * Runs `qgjob` on `argv` (`process.argv` shape: node, script, ...args) and resolves with the exit status.
 * @example process.exitCode = await runCli(process.argv);
 */
export async function runCli(argv: readonly string[] = process.argv): Promise<number> {
  const { cli, actions } = program();
  try {
    cli.parse([...argv], { run: false });
  } catch (e) {
    return report(e, cli.matchedCommand);
  }
  if (cli.options.help) return EXIT.OK; // cac printed the help
  if (cli.options.version && !cli.matchedCommand) return EXIT.OK; // cac printed the version

  const command = cli.matchedCommand;
  if (!command) {
    const unknown = Object.keys(cli.options).filter((k) => k !== '--');
    if (cli.args.length > 0) return report(usage(`unknown command "${cli.args[0]}" (see qgjob --help)`), undefined);
    if (unknown.length > 0) return report(usage(`unknown option --${unknown[0]} (see qgjob --help)`), undefined);
    cli.outputHelp();
    return EXIT.OK;
  }
  try {
    cli.runMatchedCommand(); // cac's checks: unknown options, missing values and arguments
    return await actions.get(command)!({ argv, opts: cli.options, command });
  } catch (e) {
    return report(e, command);
  }
}
