/**
 * Follows one run live and shows its progress: shared by `qgjob submit --wait` (several tests),
 * `qgjob status --run <id> --watch` and `qgjob rerun --wait`. Resolves with the final run; the
 * caller prints the verdict and picks the exit status.
 *
 * On a terminal (the output stream is a TTY and `CI` is unset) one progress line is redrawn in
 * place and each job that does not pass is printed above it as it ends. Otherwise one plain line
 * per finished job. The output stream is stdout, or stderr with `--json` (stdout then carries only
 * the final RunView).
 */
import { isFinal, type JobView, type RunView } from '../shared/index.js';
import { paintFor } from './format.js';
import { countStates, jobEndLine, progressLine } from './run-format.js';
import { watchRun } from './watch-run.js';

export interface FollowRunOptions {
  url: string;
  runId: string;
  /** With `--json` stdout is kept for the one final document: everything live goes to stderr. */
  json: boolean;
  /** API token for the `/watch` handshake. */
  token?: string;
}

/**
 * Streams the run's progress until every job has ended.
 * @example const run = await followRun({ url, runId, json: false });
 */
export async function followRun(opts: FollowRunOptions): Promise<RunView> {
  const live = opts.json ? process.stderr : process.stdout;
  const tty = live.isTTY === true && !process.env.CI;
  const c = paintFor(live);
  const cErr = paintFor(process.stderr);
  const jobs = new Map<string, JobView>();
  let total = 0;
  let drawn = false;
  let dropped = false;

  const clear = () => {
    if (!drawn) return;
    live.write('\r\x1b[2K');
    drawn = false;
  };
  const draw = () => {
    if (!tty) return;
    live.write(`\r\x1b[2K${progressLine(countStates(jobs.values()), total, c)}`);
    drawn = true;
  };
  /** A whole line above the progress line. */
  const say = (stream: NodeJS.WriteStream, line: string) => {
    clear();
    stream.write(`${line}\n`);
    draw();
  };

  try {
    return await watchRun(opts.url, opts.runId, {
      ...(opts.token ? { token: opts.token } : {}),
      onSubscribed: (run) => {
        total = run.total;
        // The whole snapshot at once, so the first progress line counts every job; newer views follow through onJob.
        for (const j of run.jobs) if (!jobs.has(j.job_id)) jobs.set(j.job_id, j);
        if (dropped) say(process.stderr, cErr.dim('· reconnected; catching up'));
        dropped = false;
      },
      onDisconnect: (reason) => {
        dropped = true;
        say(process.stderr, cErr.yellow(`· connection to the coordinator lost (${reason}); reconnecting…`));
      },
      onJob: (job, previous) => {
        jobs.set(job.job_id, job);
        const ended = isFinal(job.status) && !(previous && isFinal(previous.status));
        if (ended && (!tty || job.status !== 'passed')) say(live, jobEndLine(job, c));
        else draw();
      },
    });
  } finally {
    clear();
  }
}
