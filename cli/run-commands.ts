/**
 * The CLI's run commands: `submit` with several tests or a glob (a run), `status --run`,
 * `rerun`, `cancel --run` and `runs`. index.ts declares the flags and hands each action a `RunCtx`
 * (exact flag values and the client); this module turns them into typed requests and prints.
 * Loaded only when a run command runs.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { QgError, RUN_STATES, RunSpec, fieldErrors, type FieldErrors, type RunState, type SubmitRunReply } from '../shared/index.js';
import type { QgClient, RunFilter } from './client.js';
import { EXIT, exitCodeForRun } from './exit-codes.js';
import { paintFor } from './format.js';
import { runDetails, runTable, submittedRunLines, summaryLine } from './run-format.js';

/** What a run command reads: flag values exactly as typed, booleans, positionals and the client. */
export interface RunCtx {
  flag(name: string): string | undefined;
  /** Every value of a repeatable flag, in order. */
  flags(name: string): string[];
  bool(name: string): boolean;
  positionals(): string[];
  client(): QgClient;
  /** The flag that sets an API field, for error lines. */
  flagFor(field: string): string | undefined;
}

const usage = (message: string, fields?: FieldErrors) => new QgError('validation_failed', message, fields);
const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);
const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));

/** posix separators, no leading `./`. */
const posix = (p: string) => p.replace(/\\/g, '/').replace(/^(\.\/)+/, '');

/**
 * The spec files of `qgjob submit`, or null when it submits one job as before: exactly one
 * `--test` that is not a glob, and no `--run`, `--name` or `--idempotency-key`. Globs are expanded
 * against `--test-root` (default: the current folder); plain paths are taken as given. The list is
 * relative to the test project, with posix separators, without duplicates, sorted.
 * Errors (exit 2): a glob that matches nothing, a `--test-root` that is not a folder. (An unquoted
 * glob that the shell expanded leaves extra arguments, which cac refuses.)
 */
export async function runTests(ctx: RunCtx): Promise<string[] | null> {
  const values = ctx.flags('test');
  const { isDynamicPattern, glob } = await import('tinyglobby');
  const globs = values.filter((v) => isDynamicPattern(v));
  const asRun = values.length > 1 || globs.length > 0 || ctx.bool('run') || ctx.flag('name') !== undefined || ctx.flag('idempotency-key') !== undefined;
  if (!asRun) return null;
  if (values.length === 0) return [];

  const root = resolve(ctx.flag('test-root') ?? '.');
  if (globs.length) {
    let folder = false;
    try {
      folder = statSync(root).isDirectory();
    } catch {
      folder = false;
    }
    if (!folder) throw usage(`--test-root ${root} is not a folder`);
  }
  const paths = new Set<string>();
  for (const v of values) {
    if (!isDynamicPattern(v)) {
      paths.add(posix(v.trim()));
      continue;
    }
    const found = await glob(v, { cwd: root, onlyFiles: true, expandDirectories: false, ignore: ['**/node_modules/**'] });
    if (found.length === 0) throw usage(`--test '${v}' matched no files under ${root}`);
    for (const f of found) paths.add(posix(f));
  }
  return [...paths].sort();
}

/**
 * The idempotency key of a submitted run: `--idempotency-key`, else QGJOB_IDEMPOTENCY_KEY, else on
 * GitHub Actions `github:<repository>:<run id>:<run attempt>:<job>` (one run per job attempt).
 */
export function idempotencyKey(ctx: RunCtx, env: NodeJS.ProcessEnv = process.env): { key: string; source: 'flag' | 'env' | 'github' } | null {
  const flag = ctx.flag('idempotency-key');
  if (flag !== undefined) return { key: flag, source: 'flag' };
  if (env.QGJOB_IDEMPOTENCY_KEY) return { key: env.QGJOB_IDEMPOTENCY_KEY, source: 'env' };
  if (env.GITHUB_ACTIONS === 'true' && env.GITHUB_RUN_ID) {
    return { key: `github:${env.GITHUB_REPOSITORY ?? ''}:${env.GITHUB_RUN_ID}:${env.GITHUB_RUN_ATTEMPT ?? '1'}:${env.GITHUB_JOB ?? ''}`, source: 'github' };
  }
  return null;
}

const numeric = (v: string | undefined): number | string | undefined =>
  v === undefined ? undefined : /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v;

/** A zod failure as a usage error naming the flags (`tests.3` → `--test`). */
function invalid(ctx: RunCtx, issues: Parameters<typeof fieldErrors>[0]): QgError {
  const fields = fieldErrors(issues);
  const flags = [...new Set(Object.keys(fields).map((f) => ctx.flagFor(f.split('.')[0]!) ?? f))];
  return usage(`invalid value for ${flags.join(', ')}`, fields);
}

/** `qgjob submit` with several tests or a glob: submits a run; follows it with `--wait`. */
export async function submitRun(ctx: RunCtx, tests: string[]): Promise<number> {
  const required: Array<[flag: string, name: string]> = [
    ['--org-id <id>', 'org-id'],
    ['--app-version-id <id>', 'app-version-id'],
    ['--test <path|glob>', 'test'],
    ['--target <target>', 'target'],
  ];
  const missing = required.filter(([, name]) => (name === 'test' ? tests.length === 0 : ctx.flag(name) === undefined)).map(([f]) => f);
  if (missing.length) throw usage(`missing required option${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  const key = idempotencyKey(ctx);
  const parsed = RunSpec.safeParse({
    org_id: ctx.flag('org-id'),
    app_version_id: ctx.flag('app-version-id'),
    tests,
    target: ctx.flag('target'),
    platform: ctx.flag('platform'),
    priority: numeric(ctx.flag('priority')),
    max_attempts: numeric(ctx.flag('max-attempts')),
    timeout_ms: numeric(ctx.flag('timeout-ms')),
    test_retries: numeric(ctx.flag('test-retries')),
    build: ctx.flag('build'),
    name: ctx.flag('name'),
    idempotency_key: key?.key,
  });
  if (!parsed.success) throw invalid(ctx, parsed.error.issues);
  let reply: SubmitRunReply;
  try {
    reply = await ctx.client().submitRun(parsed.data);
  } catch (e) {
    if (e instanceof QgError && e.code === 'idempotency_conflict' && key?.source === 'github') {
      throw new QgError(e.code, `${e.message} (the key was derived from GITHUB_* for this job attempt; pass --idempotency-key to submit several runs from one job)`, e.fields);
    }
    throw e;
  }
  const what = `${parsed.data.org_id}/${parsed.data.app_version_id} on ${parsed.data.target}/${parsed.data.platform} (priority ${parsed.data.priority})`;
  return afterSubmit(ctx, reply, what);
}

/** Prints a submitted run (or follows it with `--wait`); shared by `submit` and `rerun`. */
async function afterSubmit(ctx: RunCtx, reply: SubmitRunReply, what: string): Promise<number> {
  const c = paintFor(process.stderr);
  const n = `${reply.jobs.length} job${reply.jobs.length === 1 ? '' : 's'}`;
  const said = reply.created ? `queued run ${reply.run_id}: ${n}, ${what}` : `run ${reply.run_id} already exists for this idempotency key (${n}): not submitted again`;
  if (!ctx.bool('wait')) {
    if (ctx.bool('json')) printJson(reply);
    else {
      for (const l of submittedRunLines(reply)) out(l);
      err(c.dim(said));
    }
    return EXIT.OK;
  }
  err(c.dim(`${said}; following it (Ctrl-C stops following, not the run)`));
  return followRunCommand(ctx, reply.run_id);
}

/** Follows a run to its end, prints the verdict, and returns the run's exit status. */
async function followRunCommand(ctx: RunCtx, runId: string): Promise<number> {
  const json = ctx.bool('json');
  const { followRun } = await import('./run-follow.js');
  const client = ctx.client();
  const run = await followRun({ url: client.url, runId, json, ...(client.token ? { token: client.token } : {}) });
  const stream = json ? process.stderr : process.stdout;
  stream.write(`${summaryLine(run, paintFor(stream))}\n`);
  if (json) printJson(run);
  if (run.status === 'failed' || run.status === 'error' || run.status === 'cancelled') {
    err(paintFor(process.stderr).dim(`rerun what did not pass: qgjob rerun --failed ${run.run_id}`));
  }
  return exitCodeForRun(run.status);
}

/** `qgjob status --run <id> [--watch] [--json]`. */
export async function runStatusCommand(ctx: RunCtx, runId: string): Promise<number> {
  if (ctx.bool('watch')) return followRunCommand(ctx, runId);
  const run = await ctx.client().getRun(runId);
  if (ctx.bool('json')) printJson(run);
  else for (const l of runDetails(run, paintFor(process.stdout))) out(l);
  return EXIT.OK;
}

/** The run id of `rerun`: the positional argument, or `--run`. */
function runIdFrom(ctx: RunCtx, command: string): string {
  const [positional, ...more] = ctx.positionals();
  const named = ctx.flag('run');
  if (more.length) throw usage(`give one run id: qgjob ${command} <run-id>`);
  if (positional !== undefined && named !== undefined && positional !== named) throw usage(`two different run ids given ("${positional}" and --run "${named}"): pass one`);
  const id = (positional ?? named)?.trim();
  if (!id) throw usage(`missing the run id: qgjob ${command} --failed <run-id>`);
  return id;
}

/** `qgjob rerun [--failed | --all] <run-id> [--idempotency-key <key>] [--wait] [--json]`. */
export async function rerunCommand(ctx: RunCtx): Promise<number> {
  const runId = runIdFrom(ctx, 'rerun');
  if (ctx.bool('failed') && ctx.bool('all')) throw usage('give one of --failed (the default) or --all, not both');
  const key = ctx.flag('idempotency-key');
  if (key !== undefined && (key.length === 0 || key.length > 255)) throw usage('invalid value for --idempotency-key', { idempotency_key: 'must be 1 to 255 characters' });
  const only = ctx.bool('all') ? 'all' : 'failed';
  const reply = await ctx.client().rerunRun(runId, { only, ...(key !== undefined ? { idempotency_key: key } : {}) });
  return afterSubmit(ctx, reply, `${only === 'all' ? 'every job' : 'the jobs that did not pass'} of ${runId}`);
}

/** `qgjob cancel --run <id> [--json]`. */
export async function cancelRunCommand(ctx: RunCtx, runId: string): Promise<number> {
  const run = await ctx.client().cancelRun(runId);
  if (ctx.bool('json')) printJson(run);
  else out(`${run.run_id} ${run.status} (${run.counts.cancelled} of ${run.total} jobs cancelled)`);
  return EXIT.OK;
}

/** `qgjob runs [--org-id] [--status] [--limit] [--cursor] [--json]`. */
export async function runsCommand(ctx: RunCtx): Promise<number> {
  const filter: RunFilter = {};
  const org = ctx.flag('org-id');
  if (org !== undefined) filter.org_id = org;
  const st = ctx.flag('status');
  if (st !== undefined) {
    if (!(RUN_STATES as readonly string[]).includes(st)) throw usage('invalid value for --status', { status: `must be one of ${RUN_STATES.join(', ')}` });
    filter.status = st as RunState;
  }
  const limit = ctx.flag('limit');
  if (limit !== undefined) {
    if (!/^\s*\d+\s*$/.test(limit) || Number(limit) < 1 || Number(limit) > 100) throw usage('invalid value for --limit', { limit: `must be an integer from 1 to 100, got "${limit}"` });
    filter.limit = Number(limit);
  }
  const cursor = ctx.flag('cursor');
  if (cursor !== undefined) filter.cursor = cursor;
  const page = await ctx.client().listRuns(filter);
  if (ctx.bool('json')) {
    printJson(page);
    return EXIT.OK;
  }
  if (page.runs.length === 0) err(paintFor(process.stderr).dim('no runs match'));
  else for (const l of runTable(page.runs, paintFor(process.stdout))) out(l);
  if (page.next_cursor) err(paintFor(process.stderr).dim(`more runs: add --cursor ${page.next_cursor}`));
  return EXIT.OK;
}

