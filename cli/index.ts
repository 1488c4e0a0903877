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
import { type Ctx, flagForField } from './main.js';
import { agentLines, fieldErrorLines, jobDetails, jobTable, paintFor, resultLine, testCaseLines } from './format.js';

export { DEFAULT_COORDINATOR_URL, QgClient, watchJob, type JobFilter, type QgClientOptions, type WatchOptions } from './client.js';
export { EXIT, exitCodeForError, exitCodeForJob, exitCodeForRun, type ExitCode } from './exit-codes.js';
export { watchRun, type RunWatchOptions } from './watch-run.js';
export { runCli } from './main.js';
export type { RunFilter } from './client.js';

const usage = (message: string, fields?: FieldErrors) => new QgError('validation_failed', message, fields);

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);
const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));


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
    const flags = Object.keys(fields).map((f) => flagForField(f) ?? f);
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

/** `qgjob github-summary`: a finished run as a GitHub Actions step summary, annotations and outputs. */
async function githubSummary(ctx: Ctx): Promise<number> {
  const from = flag(ctx, 'from');
  if (from === undefined) throw usage('missing required option --from <run.json> (what qgjob submit --wait --json printed)');
  const url = flag(ctx, 'coordinator-url') ?? flag(ctx, 'url') ?? process.env.QGJOB_URL;
  if (url !== undefined && !/^https?:\/\/[^/\s]/i.test(url)) throw usage(`--coordinator-url must be an http(s) URL, got "${url}"`);
  const { githubSummary: run } = await import('./github-summary.js');
  return run({ from, coordinatorUrl: url, testRoot: flag(ctx, 'test-root') });
}

/** Every command's action, by the name `main.ts` declares it under (loaded only when a command runs). */
export const ACTIONS = { submit, status, watch, cancel, rerun, runs, resubmit, list, agents, app, coordinator, agent, githubSummary } satisfies Record<string, (ctx: Ctx) => Promise<number>>;
export type ActionName = keyof typeof ACTIONS;
