/**
 * Runs the composite action in action.yml the way the GitHub runner does, on this machine: each
 * `run:` step as `bash --noprofile --norc -eo pipefail <script>` (GitHub's `shell: bash`), with
 * the step's `env:` evaluated from the inputs (defaults from action.yml), `github.*` values and
 * earlier steps' outputs, and GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_PATH, GITHUB_ENV and
 * RUNNER_TEMP pointed at temp files. Steps after a failing one are skipped, as without `if:`.
 * Only the expressions action.yml uses are understood (`inputs.x`, `steps.<id>.outputs.x`,
 * `github.x`, `a || b`); anything else throws, so the harness cannot silently diverge from the file.
 *
 * `yaml` is not a dependency of qgjob: it is present through appium (a dev dependency).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseOutputsFile } from '../../cli/github.js';
import { repoRoot, tempDir } from './processes.js';

export interface ActionStep {
  id?: string;
  name?: string;
  shell?: string;
  run?: string;
  uses?: string;
  if?: string;
  env?: Record<string, string>;
}
export interface ActionFile {
  name: string;
  description: string;
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string; value: string }>;
  runs: { using: string; steps: ActionStep[] };
}

export const actionPath = join(repoRoot, 'action.yml');
/** The repository as GITHUB_ACTION_PATH and GITHUB_WORKSPACE name it: no trailing slash. */
const actionDir = repoRoot.replace(/\/+$/, '');
export const loadAction = (): ActionFile => parse(readFileSync(actionPath, 'utf8')) as ActionFile;

export interface StepResult {
  id: string;
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  /** What the step appended to its GITHUB_STEP_SUMMARY. */
  summary: string;
  /** Lines the step appended to GITHUB_PATH. */
  path: string[];
}

export interface ActionRun {
  steps: StepResult[];
  /** The step that decided the action's result: the first that failed, else the last one run. */
  last: StepResult;
  /** The action's own outputs (action.yml `outputs.*.value`). */
  outputs: Record<string, string>;
  /** All step summaries, in order, as the job summary shows them. */
  summary: string;
  runnerTemp: string;
}

/** The `github` context values the action reads, and the GITHUB_* variables the runner sets. */
export interface GithubContext {
  workflow?: string;
  run_number?: string;
  run_id?: string;
  run_attempt?: string;
  repository?: string;
  job?: string;
}

type Ctx = { inputs: Record<string, string>; steps: Record<string, { outputs: Record<string, string> }>; github: Record<string, string> };

/** Evaluates one `${{ … }}` body: dotted lookups and string literals joined by `||`. */
function evaluate(expr: string, ctx: Ctx): string {
  for (const term of expr.split('||').map((t) => t.trim())) {
    let value: string | undefined;
    const lit = /^'(.*)'$/.exec(term);
    if (lit) value = lit[1]!.replace(/''/g, "'");
    else if (/^inputs\.[\w-]+$/.test(term)) {
      const name = term.slice('inputs.'.length);
      if (!(name in ctx.inputs)) throw new Error(`action.yml reads inputs.${name}, which it does not declare`);
      value = ctx.inputs[name];
    } else if (/^steps\.[\w-]+\.outputs\.[\w-]+$/.test(term)) {
      const [, id, , name] = term.split('.');
      value = ctx.steps[id!]?.outputs[name!] ?? '';
    } else if (/^github\.\w+$/.test(term)) {
      const name = term.slice('github.'.length);
      if (!(name in ctx.github)) throw new Error(`the harness has no value for github.${name}`);
      value = ctx.github[name];
    } else {
      throw new Error(`the harness does not understand the expression "${term}"`);
    }
    if (value) return value;
  }
  return '';
}

/** Replaces every `${{ … }}` in `text`. */
const substitute = (text: string, ctx: Ctx) => text.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, e: string) => evaluate(e, ctx));

/**
 * Runs action.yml with `inputs` (unset ones take their defaults). `skip` names steps not to run
 * (the install step: tests use the repo's built bin). `cwd` is the workspace (default: the repo).
 */
export async function runAction(
  inputs: Record<string, string>,
  opts: { github?: GithubContext; skip?: string[]; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ActionRun> {
  const action = loadAction();
  if (action.runs.using !== 'composite') throw new Error(`action.yml runs.using is ${action.runs.using}, not composite`);
  for (const name of Object.keys(inputs)) if (!(name in action.inputs)) throw new Error(`action.yml has no input "${name}"`);
  const withDefaults: Record<string, string> = {};
  for (const [name, spec] of Object.entries(action.inputs)) withDefaults[name] = inputs[name] ?? spec.default ?? '';

  const gh: GithubContext = { workflow: 'AppWright Test', run_number: '7', run_id: '1000', run_attempt: '1', repository: 'acme/app', job: 'appwright', ...opts.github };
  const ctx: Ctx = { inputs: withDefaults, steps: {}, github: { action_path: actionDir, workspace: actionDir } };
  const runnerTemp = tempDir('runner');
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GITHUB_') && !k.startsWith('RUNNER_') && !k.startsWith('QGJOB_') && k !== 'FORCE_COLOR') base[k] = v;
  Object.assign(base, {
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    NO_COLOR: '1',
    GITHUB_ACTION_PATH: actionDir,
    GITHUB_WORKSPACE: actionDir,
    RUNNER_TEMP: runnerTemp,
    GITHUB_WORKFLOW: gh.workflow,
    GITHUB_RUN_NUMBER: gh.run_number,
    GITHUB_RUN_ID: gh.run_id,
    GITHUB_RUN_ATTEMPT: gh.run_attempt,
    GITHUB_REPOSITORY: gh.repository,
    GITHUB_JOB: gh.job,
    ...opts.env,
  });

  const steps: StepResult[] = [];
  let failed: StepResult | undefined;
  for (const [i, step] of action.runs.steps.entries()) {
    const id = step.id ?? `step${i}`;
    if (opts.skip?.includes(id)) continue;
    if (step.if !== undefined) throw new Error(`step ${id} has an if:, which the harness does not evaluate`);
    if (failed) break; // success() is the default condition of a composite step
    if (step.run === undefined || step.shell !== 'bash') throw new Error(`step ${id}: the harness runs only run: steps with shell: bash`);

    const dir = join(runnerTemp, '_steps', id);
    mkdirSync(dir, { recursive: true });
    const files = { output: join(dir, 'output'), summary: join(dir, 'summary'), path: join(dir, 'path'), env: join(dir, 'env') };
    for (const f of Object.values(files)) writeFileSync(f, ''); // the runner creates them empty
    const script = join(dir, 'script.sh');
    writeFileSync(script, substitute(step.run, ctx));
    const env: NodeJS.ProcessEnv = { ...base, GITHUB_OUTPUT: files.output, GITHUB_STEP_SUMMARY: files.summary, GITHUB_PATH: files.path, GITHUB_ENV: files.env };
    for (const [k, v] of Object.entries(step.env ?? {})) env[k] = substitute(String(v), ctx);

    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    const [code] = (await once(child, 'close')) as [number | null];
    clearTimeout(killer);

    const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    const result: StepResult = {
      id,
      code,
      stdout,
      stderr,
      outputs: parseOutputsFile(read(files.output)),
      summary: read(files.summary),
      path: read(files.path).split('\n').filter(Boolean),
    };
    steps.push(result);
    ctx.steps[id] = { outputs: result.outputs };
    if (code !== 0) failed = result;
  }
  const outputs: Record<string, string> = {};
  for (const [name, spec] of Object.entries(action.outputs)) outputs[name] = substitute(spec.value, ctx);
  return { steps, last: failed ?? steps[steps.length - 1]!, outputs, summary: steps.map((s) => s.summary).join(''), runnerTemp };
}
