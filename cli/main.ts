/**
 * The `qgjob` program: every command and option (what `--help` prints), and `runCli`. It loads
 * only cac and zod-free constants, so `qgjob --help` starts fast; a command's action (index.ts,
 * with the schemas, the client and Socket.IO) is imported when that command runs.
 */
import { cac, type CAC, type Command } from 'cac';
import { BUILD_MODES, JOB_STATES } from '../shared/enums.js';
import { QgError, type FieldErrors } from '../shared/errors.js';
import { VERSION } from '../shared/version.js';
import { DEFAULT_COORDINATOR_URL } from './defaults.js';
import { EXIT, exitCodeForError, isCacError } from './exit-codes.js';
import type { ActionName } from './index.js';

/** What every action gets: the raw argv (for exact values) and cac's parsed options (for booleans). */
export interface Ctx {
  argv: readonly string[];
  opts: Record<string, unknown>;
  command: Command;
}

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
export const flagForField = (field: string, command?: string): string | undefined =>
  command === 'app' && field === 'url' ? '--build-url' : (FLAG_FOR_FIELD[field] ?? FLAG_FOR_FIELD[field.split('.')[0]!]);

const usage = (message: string, fields?: FieldErrors) => new QgError('validation_failed', message, fields);
const err = (line: string) => process.stderr.write(`${line}\n`);

// ───────────────────────────── program ─────────────────────────────

const URL_HELP = `Coordinator URL (default: $QGJOB_URL, else ${DEFAULT_COORDINATOR_URL})`;

/** Declares every command and option; the `action`s receive a `Ctx` through `bind`. */
function program(): { cli: CAC; actions: Map<Command, ActionName> } {
  const cli = cac('qgjob');
  const actions = new Map<Command, ActionName>();
  const def = (cmd: Command, fn: ActionName) => {
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
    'submit',
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
    'status',
  );
  def(
    cli
      .command('watch <jobId>', "Stream a job's log lines live, then its result; exit with the result")
      .option('--json', 'Log lines go to stderr; print the final job as one JSON document')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} watch job_01M89ECP7T3RV1B4F1E4X69QCB`),
    'watch',
  );
  def(
    cli
      .command('cancel [jobId]', 'Cancel a queued or running job, or every unfinished job of a run (--run)')
      .option('--run <id>', 'Cancel this run instead')
      .option('--json', 'Print the cancelled job (or run) as one JSON document')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} cancel job_01M89ECP7T3RV1B4F1E4X69QCB`)
      .example((bin) => `  $ ${bin} cancel --run run_01M89ECP7T3RV1B4F1E4X69QCB`),
    'cancel',
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
    'rerun',
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
    'runs',
  );
  def(
    cli
      .command('resubmit <jobId>', 'Queue an ended job again as a new job with the same spec (e.g. from `list --status error`)')
      .option('--json', 'Print one JSON document: {job_id,status}')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} resubmit job_01M89ECP7T3RV1B4F1E4X69QCB`),
    'resubmit',
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
    'list',
  );
  def(
    cli
      .command('agents', 'List agents and their device slots (target, platform, device, installed build, state)')
      .option('--json', 'Print one JSON document: {agents}')
      .option('--url <url>', URL_HELP)
      .example((bin) => `  $ ${bin} agents --url http://10.0.0.5:8080`),
    'agents',
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
    'app',
  );
  def(
    cli
      .command('coordinator', 'Run a coordinator (HTTP API and Socket.IO on one port) until SIGINT/SIGTERM')
      .option('--host <host>', 'Interface to listen on (default: $QGJOB_HOST, else 127.0.0.1)')
      .option('--port <port>', 'Port; 0 picks a free one (default: $QGJOB_PORT, else 8080)')
      .option('--database <url>', 'mysql://user:pass@host:3306/db or sqlite:<file> (default: $DATABASE_URL, else <data-dir>/qgjob.sqlite)')
      .option('--data-dir <dir>', 'Folder for local state (default: $QGJOB_DATA_DIR, else .qgjob)')
      .example((bin) => `  $ ${bin} coordinator --host 0.0.0.0 --port 8080 --database mysql://qgjob:secret@127.0.0.1:3306/qgjob`),
    'coordinator',
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
    'agent',
  );

  def(
    cli
      .command('github-summary', 'In GitHub Actions: write a finished run (submit --wait --json) as the step summary, ::error annotations and step outputs; exit with its result')
      .option('--from <file>', 'The run JSON that `qgjob submit --wait --json` printed (required)')
      .option('--coordinator-url <url>', 'Coordinator URL for job links (default: --url, else $QGJOB_URL, else no links)')
      .option('--test-root <dir>', 'Folder the spec paths are relative to, from the repository root (annotations point at <dir>/<spec>)')
      .option('--url <url>', 'Same as --coordinator-url')
      .example((bin) => `  $ ${bin} submit … --wait --json > run.json; ${bin} github-summary --from run.json --coordinator-url https://qgjob.example.com --test-root e2e`),
    'githubSummary',
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
async function report(e: unknown, command: Command | undefined): Promise<number> {
  const code = exitCodeForError(e);
  if (isCacError(e)) {
    const help = command ? `qgjob ${command.name} --help` : 'qgjob --help';
    err(`qgjob: ${e.message.replace(/^\w/, (ch) => ch.toLowerCase())} (see ${help})`);
  } else if (e instanceof QgError) {
    err(`qgjob: ${e.message}`);
    // Field lines add what the reason line does not already say.
    const extra = Object.fromEntries(Object.entries(e.fields ?? {}).filter(([, msg]) => !e.message.includes(msg)));
    const { fieldErrorLines } = await import('./format.js');
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
    const { ACTIONS } = await import('./index.js');
    return await ACTIONS[actions.get(command)!]({ argv, opts: cli.options, command });
  } catch (e) {
    return report(e, command);
  }
}
