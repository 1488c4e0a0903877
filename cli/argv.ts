/**
 * Reading values from the raw argv. cac (through mri) turns numeric-looking values into numbers:
 * `--org-id 007` becomes 7 and `12345678901234567890` loses digits. Every value the CLI uses is
 * therefore read here, as the exact string the user typed; cac still does the matching, the
 * unknown-flag check and `--help`.
 */
import type { Command } from 'cac';

/**
 * The last value given for `--<name>` (`--name value` or `--name=value`), exactly as typed;
 * undefined when the flag is absent. `camel` is cac's parsed value, used only when the user
 * spelled the flag in camelCase (`--orgId`), which cac also accepts.
 * @example rawOption(['node', 'qgjob', 'submit', '--org-id', '007'], 'org-id') // "007"
 */
export function rawOption(argv: readonly string[], name: string, camel?: unknown): string | undefined {
  let found: string | undefined;
  const flag = `--${name}`;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (a === flag) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) found = next;
    } else if (a.startsWith(`${flag}=`)) {
      found = a.slice(flag.length + 1);
    }
  }
  if (found !== undefined) return found;
  if (camel === undefined || camel === null || typeof camel === 'boolean') return undefined;
  return Array.isArray(camel) ? String(camel[camel.length - 1]) : String(camel);
}

/**
 * Every value given for a repeatable `--<name>`, in order, exactly as typed; [] when absent.
 * `camel` is cac's parsed value, used only when the flag was spelled in camelCase.
 * @example rawOptions(['node', 'qgjob', 'submit', '--test', 'a.js', '--test=b.js'], 'test') // ["a.js", "b.js"]
 */
export function rawOptions(argv: readonly string[], name: string, camel?: unknown): string[] {
  const found: string[] = [];
  const flag = `--${name}`;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (a === flag) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) found.push(next);
    } else if (a.startsWith(`${flag}=`)) {
      found.push(a.slice(flag.length + 1));
    }
  }
  if (found.length || camel === undefined || camel === null || typeof camel === 'boolean') return found;
  return (Array.isArray(camel) ? camel : [camel]).map(String);
}

/**
 * The positional arguments after the command name, exactly as typed. A flag that takes a value
 * (declared `--x <v>` or `--x [v]`) consumes the next token; a boolean flag does not.
 * @example positionals(['node', 'qgjob', 'status', '--json', '0123'], statusCommand) // ["0123"]
 */
export function positionals(argv: readonly string[], command: Command): string[] {
  const options = [...command.options, ...(command.globalCommand?.options ?? [])];
  const takesValue = (token: string): boolean => {
    const bare = token.replace(/^-{1,2}/, '');
    const camel = bare.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const opt = options.find((o) => o.names.includes(camel) || o.names.includes(bare));
    return !!opt && !opt.isBoolean;
  };
  const out: string[] = [];
  let seenCommand = false;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('-') && a.length > 1) {
      if (!a.includes('=') && takesValue(a)) {
        const next = argv[i + 1];
        if (next !== undefined && !next.startsWith('-')) i++;
      }
      continue;
    }
    if (!seenCommand && command.isMatched(a)) {
      seenCommand = true;
      continue;
    }
    out.push(a);
  }
  return out;
}
