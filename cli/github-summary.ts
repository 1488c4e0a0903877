/**
 * `qgjob github-summary --from <run.json>`: turns the RunView that `qgjob submit --wait --json`
 * printed into what a GitHub Actions step shows. It appends the Markdown summary to
 * `$GITHUB_STEP_SUMMARY` (stdout when unset), prints the `::error` annotations to stdout, appends
 * the outputs to `$GITHUB_OUTPUT` (when set), and resolves with the run's exit status (0 passed,
 * 1 failed, 3 error/cancelled/unfinished) so that the step fails when the run did. The text comes
 * from the pure functions in github.ts; this file only reads and writes.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { QgError } from '../shared/index.js';
import { annotations, formatOutputs, parseRunView, runExitCode, runTally, stepOutputs, stepSummary } from './github.js';

export interface GithubSummaryOptions {
  /** The RunView JSON file. */
  from: string;
  /** The coordinator's URL for links; undefined → no links. */
  coordinatorUrl?: string;
  /** The folder the spec paths are relative to (absolute paths are made relative to the workspace). */
  testRoot?: string;
  env?: NodeJS.ProcessEnv;
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
}

/** `testRoot` relative to the repository (GITHUB_WORKSPACE, else the working folder), as annotations need. */
function repoRelative(testRoot: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (testRoot === undefined || !isAbsolute(testRoot)) return testRoot;
  const rel = relative(env.GITHUB_WORKSPACE || process.cwd(), testRoot);
  return rel.startsWith('..') || isAbsolute(rel) ? testRoot : rel || '.';
}

/**
 * Runs the command; resolves with its exit status. A missing or unreadable `--from` file, or one
 * that is not a run, throws a usage error (exit 2); so does a summary or output file it cannot write.
 */
export async function githubSummary(opts: GithubSummaryOptions): Promise<number> {
  const env = opts.env ?? process.env;
  const out = opts.stdout ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = opts.stderr ?? ((l: string) => process.stderr.write(`${l}\n`));

  let text: string;
  try {
    text = readFileSync(opts.from, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QgError('validation_failed', `cannot read --from ${opts.from}: ${code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e)}`);
  }
  let run;
  try {
    run = parseRunView(text);
  } catch (e) {
    throw new QgError('validation_failed', `--from ${opts.from}: ${e instanceof Error ? e.message : String(e)}`);
  }

  const view = { coordinatorUrl: opts.coordinatorUrl, testRoot: repoRelative(opts.testRoot, env) };
  const append = (file: string, what: string, content: string) => {
    try {
      appendFileSync(file, content);
    } catch (e) {
      throw new QgError('validation_failed', `cannot write the ${what} file ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  const summary = stepSummary(run, view);
  if (env.GITHUB_STEP_SUMMARY) append(env.GITHUB_STEP_SUMMARY, 'step summary ($GITHUB_STEP_SUMMARY)', `${summary}\n`);
  else out(summary);
  for (const line of annotations(run, view)) out(line);
  if (env.GITHUB_OUTPUT) append(env.GITHUB_OUTPUT, 'step output ($GITHUB_OUTPUT)', formatOutputs(stepOutputs(run, view)));

  const t = runTally(run);
  err(`qgjob: run ${run.run_id} ${run.status}: ${t.passed} of ${t.total} passed${t.failed ? `, ${t.failed} failed` : ''}${t.errored ? `, ${t.errored} error` : ''}${t.cancelled ? `, ${t.cancelled} cancelled` : ''}${t.unfinished ? `, ${t.unfinished} not finished` : ''}`);
  return runExitCode(run.status);
}
