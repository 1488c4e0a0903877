/**
 * The coordinator's one structured logger (pino). JSON lines on stderr for machines (written
 * asynchronously, batched while a write is in flight); readable text
 * (pino-pretty, written synchronously, no worker thread) when stderr is a terminal or
 * `QGJOB_LOG_FORMAT=pretty`. Level from `QGJOB_LOG_LEVEL` (default `info`). Components log with
 * the ids they know as fields (`job_id`, `attempt_id`, `agent_id`, `slot_id`), usually through a
 * child logger. A plain line function (the tests' `log` hook) can stand in for the whole logger.
 *
 * The agent has its own copy of this module (agent/log.ts): rooms do not import each other.
 */
import pino from 'pino';
import pretty from 'pino-pretty';
import { QgError } from '../shared/index.js';

export type Logger = pino.Logger;

/** What callers may pass as `log`: a pino logger, or a function that gets one formatted line per entry. */
export type LogTarget = Logger | ((line: string) => void);

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const FORMATS = ['json', 'pretty'] as const;
/** Fields a line-function target does not repeat (they are the line's frame, not its content). */
const FRAME = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/** `QGJOB_LOG_LEVEL`, checked. Errors: validation_failed for an unknown level. */
function levelFrom(env: NodeJS.ProcessEnv): pino.LevelWithSilent {
  const v = (env.QGJOB_LOG_LEVEL ?? '').trim().toLowerCase() || 'info';
  if (!(LEVELS as readonly string[]).includes(v)) {
    throw new QgError('validation_failed', `QGJOB_LOG_LEVEL must be one of ${LEVELS.join(', ')}, got "${env.QGJOB_LOG_LEVEL}"`);
  }
  return v as pino.LevelWithSilent;
}

/** `QGJOB_LOG_FORMAT`, else `pretty` on a terminal and `json` otherwise. Errors: validation_failed. */
function formatFrom(env: NodeJS.ProcessEnv, isTTY: boolean): 'json' | 'pretty' {
  const v = (env.QGJOB_LOG_FORMAT ?? '').trim().toLowerCase();
  if (v === '') return isTTY ? 'pretty' : 'json';
  if (!(FORMATS as readonly string[]).includes(v)) {
    throw new QgError('validation_failed', `QGJOB_LOG_FORMAT must be json or pretty, got "${env.QGJOB_LOG_FORMAT}"`);
  }
  return v as 'json' | 'pretty';
}

/**
 * The process logger: JSON lines (`level`, `time`, `name`, `msg`, fields) or pretty text on stderr.
 * Errors: validation_failed for a bad QGJOB_LOG_LEVEL or QGJOB_LOG_FORMAT.
 * @example const log = createLogger('coordinator'); log.child({ job_id }).info('assigned');
 */
export function createLogger(name: string, env: NodeJS.ProcessEnv = process.env): Logger {
  const level = levelFrom(env);
  const opts: pino.LoggerOptions = { name, level, timestamp: pino.stdTimeFunctions.isoTime };
  // Asynchronous: a line is handed to the kernel at once unless a write is in flight, and the lines
  // that queue up meanwhile go in the next write (one syscall per batch, not one per line, off the
  // event loop). pino flushes what is left synchronously when the process exits.
  if (formatFrom(env, process.stderr.isTTY === true) === 'json') return pino(opts, pino.destination({ fd: 2, sync: false }));
  const colorize = process.stderr.isTTY === true && !env.NO_COLOR;
  return pino(opts, pretty({ sync: true, destination: 2, colorize, singleLine: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' }));
}

/** One line for a line-function target: the message, then ` key=value` for each field (an error's stack last). */
function formatLine(entry: Record<string, unknown>): string {
  let line = String(entry.msg ?? '');
  let stack = '';
  for (const [k, v] of Object.entries(entry)) {
    if (FRAME.has(k)) continue;
    if (k === 'err' && v && typeof v === 'object') stack = String((v as { stack?: unknown }).stack ?? (v as { message?: unknown }).message ?? '');
    else line += ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`;
  }
  return stack ? `${line}\n${stack}` : line;
}

/**
 * The logger for a `log` option: a pino logger as is; a line function behind a pino logger that
 * hands it one formatted line per entry; nothing: the process logger.
 * @example toLogger((line) => lines.push(line), 'coordinator').info({ job_id: 'j' }, 'hi') // lines: ['hi job_id=j']
 */
export function toLogger(target: LogTarget | undefined, name: string, env: NodeJS.ProcessEnv = process.env): Logger {
  if (target === undefined) return createLogger(name, env);
  if (typeof target !== 'function') return target;
  const write = target;
  return pino({ name, level: levelFrom(env) }, { write: (s: string) => write(formatLine(JSON.parse(s) as Record<string, unknown>)) });
}

/** A logger that writes nothing (a component's default when it is given none). */
export const silentLogger = (): Logger => pino({ level: 'silent' });
