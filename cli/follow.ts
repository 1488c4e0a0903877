/**
 * Follows one job live and prints it as it goes: shared by `qgjob watch`, `qgjob status --watch`
 * and `qgjob submit --wait`. Resolves with the final job; the caller prints the verdict and picks
 * the exit status.
 */
import type { JobView } from '../shared/index.js';
import { watchJob } from './client.js';
import { eventLine, paintFor } from './format.js';

export interface FollowOptions {
  url: string;
  jobId: string;
  /** API token for the `/watch` handshake, if any. */
  token?: string;
  /** `logs`: print every log line (watch); `states`: print only state changes (status --watch). */
  show: 'logs' | 'states';
  /** With `--json` stdout is kept for the one final document: everything live goes to stderr. */
  json: boolean;
}

const write = (stream: NodeJS.WriteStream, line: string) => stream.write(`${line}\n`);

/**
 * Streams the job's events: log lines (each line's text, in order) to stdout, state changes and
 * installs as short `·` lines to stderr; in `states` mode the state lines are the output, so they
 * go to stdout. Connection trouble is reported on stderr; the watcher reconnects by itself.
 * @example const job = await followJob({ url, jobId, show: 'logs', json: false });
 */
export async function followJob(opts: FollowOptions): Promise<JobView> {
  const out = opts.json ? process.stderr : process.stdout;
  const stateOut = opts.show === 'states' ? out : process.stderr;
  const cOut = paintFor(out);
  const cState = paintFor(stateOut);
  const cErr = paintFor(process.stderr);
  let lastEventId = 0;
  let dropped = false;

  return watchJob(opts.url, opts.jobId, {
    ...(opts.token ? { token: opts.token } : {}),
    onSubscribed: () => {
      if (dropped) write(process.stderr, cErr.dim(`· reconnected; resuming after event ${lastEventId}`));
      dropped = false;
    },
    onDisconnect: (reason) => {
      dropped = true;
      write(process.stderr, cErr.yellow(`· connection to the coordinator lost (${reason}); reconnecting…`));
    },
    onEvent: (e) => {
      lastEventId = e.event_id;
      if (e.type === 'log') {
        if (opts.show !== 'logs') return;
        for (const l of e.lines) write(out, l.stream === 'agent' ? cOut.dim(`[agent] ${l.text}`) : l.text);
        return;
      }
      if (opts.show === 'states' && e.type !== 'state') return;
      const line = eventLine(e, cState);
      if (line) write(stateOut, line);
    },
  });
}
