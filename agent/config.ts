/**
 * Agent configuration: a lab's JSON file (snake_case, zod-validated) and the `qgjob agent` flags,
 * merged into one `AgentOptions`. Flags win over the file. Relative paths in the file are resolved
 * against the file's folder; relative paths in flags against the current directory.
 *
 * The file:
 * ```json
 * { "url": "http://127.0.0.1:8080", "name": "lab-1", "agent_id": "lab-1", "project": "appwright-project",
 *   "apps": { "*": "appwright-project/app/fake-app.xml" },
 *   "slots": [{ "id": "fake-1", "target": "emulator", "platform": "android", "device_name": "Fake device",
 *               "appium_url": "http://127.0.0.1:4723", "capabilities": { "platformName": "Fake" } }] }
 * ```
 */
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { z } from 'zod';
import { AGENT_ID_PATTERN, PLATFORMS, QgError, TARGETS, type FieldErrors } from '../shared/index.js';
import { DEFAULT_HUB_URL } from './cloud/browserstack.js';
import type { AgentOptions, SlotConfig } from './options.js';

/** `required` when absent, else `expected`: zod 4 passes the offending input to a function `error`. */
const need = (expected: string) => (iss: { input?: unknown }) => (iss.input === undefined ? 'is required' : expected);

const text = (max = 255) => z.string({ error: need('must be a string') }).trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

const httpUrl = z
  .string({ error: need('must be a string') })
  .trim()
  .refine((u) => {
    try {
      return ['http:', 'https:'].includes(new URL(u).protocol);
    } catch {
      return false;
    }
  }, 'must be an http(s) URL, e.g. http://127.0.0.1:4723');

const capabilities = z.record(z.string(), z.unknown(), { error: need('must be a JSON object of capabilities') });

const SlotJson = z
  .object({
    id: text(128).regex(AGENT_ID_PATTERN, 'must be letters, digits or . _ : @ - (no / or spaces)'),
    target: z.enum(TARGETS, { error: need(`must be one of ${TARGETS.join(', ')}`) }),
    platform: z.enum(PLATFORMS, { error: need(`must be one of ${PLATFORMS.join(', ')}`) }),
    device_name: text(),
    /** Required for lab slots; a browserstack slot uses its hub. */
    appium_url: httpUrl.optional(),
    capabilities: capabilities.optional(),
    browserstack: z
      .object({
        os_version: text(32),
        username_env: text(128).optional(),
        access_key_env: text(128).optional(),
        api_base: httpUrl.optional(),
        hub_url: httpUrl.optional(),
        project_name: text().optional(),
        build_name: text().optional(),
        video: z
          .object({ attempts: z.number().int().min(1).max(100).optional(), first_delay_ms: z.number().int().min(0).optional(), max_delay_ms: z.number().int().min(0).optional() })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.target === 'browserstack' && !s.browserstack) {
      ctx.addIssue({ code: 'custom', path: ['browserstack'], message: 'is required for a browserstack slot: { "os_version": "14.0" } (credentials come from BROWSERSTACK_USERNAME / BROWSERSTACK_ACCESS_KEY)' });
    }
    if (s.target !== 'browserstack' && !s.appium_url) ctx.addIssue({ code: 'custom', path: ['appium_url'], message: 'is required' });
  });
type SlotJson = z.infer<typeof SlotJson>;

/** The lab file's schema. Unknown keys are errors, so a misspelt field is caught rather than ignored. */
export const AgentConfigFile = z
  .object({
    url: httpUrl.optional(),
    name: text().optional(),
    agent_id: text(128).regex(AGENT_ID_PATTERN, 'must be letters, digits or . _ : @ - (no / or spaces)').optional(),
    project: text(4096).optional(),
    apps: z.record(z.string().min(1, 'keys must not be empty'), text(4096), { error: need('must be an object: {"<app_version_id>" or "*": "<file>"}') }).optional(),
    slots: z
      .array(SlotJson, { error: need('must be a list of slots') })
      .min(1, 'must list at least one slot')
      .superRefine((slots, ctx) => {
        const seen = new Set<string>();
        slots.forEach((s, i) => {
          if (seen.has(s.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `"${s.id}" is used by two slots; slot ids must be unique` });
          seen.add(s.id);
        });
      }),
    work_dir: text(4096).optional(),
  })
  .strict();
export type AgentConfigFile = z.infer<typeof AgentConfigFile>;

/** `slots[0].target` from zod's `['slots', 0, 'target']`. */
function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

interface Issue {
  path: ReadonlyArray<PropertyKey>;
  message: string;
  code?: string;
  keys?: readonly string[];
}

/** One sentence per issue (`slots[0].target must be one of …`), keyed by its path. */
function describeIssues(issues: readonly Issue[], nameOf: (path: string) => string = (p) => p): FieldErrors {
  const fields: FieldErrors = {};
  for (const iss of issues) {
    if (iss.code === 'unrecognized_keys' && iss.keys) {
      for (const k of iss.keys) {
        const p = formatPath([...iss.path, k]);
        fields[p] ??= `${nameOf(p)} is not a known field`;
      }
      continue;
    }
    const p = formatPath(iss.path) || '(config)';
    fields[p] ??= `${nameOf(p)} ${iss.message}`;
  }
  return fields;
}

/** `first problem (and N more)`: the one line a person reads. */
function summary(fields: FieldErrors): string {
  const all = Object.values(fields);
  return all.length > 1 ? `${all[0]} (and ${all.length - 1} more)` : (all[0] ?? 'invalid');
}

/** A path, or a URL-like app reference (`bs://…`, `https://…`) that must not be treated as a path. */
const isUrlLike = (s: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);
const resolvePath = (base: string, p: string) => (isUrlLike(p) ? p : resolve(base, p));

const slotFromJson = (s: SlotJson): SlotConfig => {
  const bs = s.browserstack;
  return {
    slotId: s.id,
    target: s.target,
    platform: s.platform,
    deviceName: s.device_name,
    appiumUrl: s.appium_url ?? bs?.hub_url ?? DEFAULT_HUB_URL,
    ...(s.capabilities ? { capabilities: s.capabilities } : {}),
    ...(bs
      ? {
          browserstack: {
            osVersion: bs.os_version,
            ...(bs.username_env ? { usernameEnv: bs.username_env } : {}),
            ...(bs.access_key_env ? { accessKeyEnv: bs.access_key_env } : {}),
            ...(bs.api_base ? { apiBase: bs.api_base } : {}),
            ...(bs.hub_url ? { hubUrl: bs.hub_url } : {}),
            ...(bs.project_name ? { projectName: bs.project_name } : {}),
            ...(bs.build_name ? { buildName: bs.build_name } : {}),
            ...(bs.video
              ? {
                  video: {
                    ...(bs.video.attempts !== undefined ? { attempts: bs.video.attempts } : {}),
                    ...(bs.video.first_delay_ms !== undefined ? { firstDelayMs: bs.video.first_delay_ms } : {}),
                    ...(bs.video.max_delay_ms !== undefined ? { maxDelayMs: bs.video.max_delay_ms } : {}),
                  },
                }
              : {}),
          },
        }
      : {}),
  };
};

/**
 * Reads and validates a lab config file. Relative paths (`project`, `apps` values, `work_dir`) are
 * resolved against the file's folder. Throws `QgError('validation_failed')` with a one-line
 * message naming the file and the field, and every problem in `fields`.
 * @example const fileConfig = await loadAgentConfig('examples/lab.json'); // { projectDir: '/…/examples/appwright-project', slots: [...] }
 */
export async function loadAgentConfig(file: string): Promise<Partial<AgentOptions>> {
  const rel = relative(process.cwd(), resolve(file));
  const shown = rel && !rel.startsWith('..') ? rel : resolve(file);
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new QgError('validation_failed', `cannot read the agent config ${shown}: ${why}`, undefined, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new QgError('validation_failed', `the agent config ${shown} is not valid JSON: ${(err as Error).message}`, undefined, { cause: err });
  }
  const parsed = AgentConfigFile.safeParse(json);
  if (!parsed.success) {
    const fields = describeIssues(parsed.error.issues as unknown as Issue[]);
    throw new QgError('validation_failed', `agent config ${shown}: ${summary(fields)}`, fields);
  }
  const c = parsed.data;
  const dir = dirname(resolve(file));
  const out: Partial<AgentOptions> = { slots: c.slots.map(slotFromJson) };
  if (c.url !== undefined) out.url = c.url;
  if (c.name !== undefined) out.name = c.name;
  if (c.agent_id !== undefined) out.agentId = c.agent_id;
  if (c.project !== undefined) out.projectDir = resolve(dir, c.project);
  if (c.apps !== undefined) out.apps = Object.fromEntries(Object.entries(c.apps).map(([k, v]) => [k, resolvePath(dir, v)]));
  if (c.work_dir !== undefined) out.workDir = resolve(dir, c.work_dir);
  return out;
}

/** The `qgjob agent` flags, each exactly as typed (undefined when absent). */
export interface AgentFlags {
  url?: string;
  project?: string;
  agentId?: string;
  name?: string;
  /** `--app X`: the build used for every app version (`apps = { '*': X }`). */
  app?: string;
  target?: string;
  platform?: string;
  deviceName?: string;
  appiumUrl?: string;
  /** A JSON object (as typed on the command line) or an object already parsed. */
  capabilities?: string | Record<string, unknown>;
  slotId?: string;
  workDir?: string;
  /** The agent token (`--token`, else env QGJOB_AGENT_TOKEN); never read from the config file. */
  token?: string;
}

/** The flag that sets each slot field, for error messages. */
const SLOT_FLAG: Record<string, string> = {
  id: '--slot-id',
  target: '--target',
  platform: '--platform',
  device_name: '--device-name',
  appium_url: '--appium-url',
  capabilities: '--capabilities',
};

const usage = (message: string, fields?: FieldErrors) => new QgError('validation_failed', message, fields);

/** The slot the flags describe, laid over the file's one slot when there is one. */
function slotFromFlags(flags: AgentFlags, base: SlotConfig | undefined): SlotConfig {
  let caps: unknown = flags.capabilities;
  if (typeof caps === 'string') {
    try {
      caps = JSON.parse(caps);
    } catch (err) {
      throw usage(`--capabilities must be a JSON object, e.g. '{"appium:udid":"emulator-5554"}': ${(err as Error).message}`);
    }
  }
  const target = flags.target ?? base?.target;
  if (target === undefined) throw usage('--target is required to describe a device slot (emulator, device or browserstack)', { target: '--target is required' });
  const platform = flags.platform ?? base?.platform ?? 'android';
  const candidate = {
    id: flags.slotId ?? base?.slotId ?? `${target}-${platform}`,
    target,
    platform,
    device_name: flags.deviceName ?? base?.deviceName ?? `${platform} ${target}`,
    appium_url: flags.appiumUrl ?? base?.appiumUrl,
    ...(caps !== undefined ? { capabilities: caps } : base?.capabilities ? { capabilities: base.capabilities } : {}),
  };
  const parsed = SlotJson.safeParse(candidate);
  if (!parsed.success) {
    const fields = describeIssues(parsed.error.issues as unknown as Issue[], (p) => SLOT_FLAG[p] ?? p);
    throw usage(summary(fields), fields);
  }
  return slotFromJson(parsed.data);
}

/**
 * Merges the flags over a loaded config file into complete `AgentOptions`.
 * - Slot flags (`--target`, `--platform`, `--device-name`, `--appium-url`, `--capabilities`,
 *   `--slot-id`) describe one device. They override the fields of the file's slot when the file
 *   has exactly one, stand alone without a file, and are refused when the file has several.
 * - `--app X` means `apps = { '*': X }` (it replaces the file's `apps`).
 * - A missing coordinator URL, project or slot is a usage error (`validation_failed`).
 * @example agentOptionsFromFlags({ url: 'http://127.0.0.1:8080', project: 'examples/appwright-project', app: 'app.xml', target: 'emulator', appiumUrl: 'http://127.0.0.1:4723' })
 */
export function agentOptionsFromFlags(flags: AgentFlags, fileConfig: Partial<AgentOptions> = {}): AgentOptions {
  const url = flags.url ?? fileConfig.url;
  if (!url) throw usage('missing the coordinator URL: pass --url <coordinator> (or "url" in the config file)');
  const urlCheck = httpUrl.safeParse(url);
  if (!urlCheck.success) throw usage(`--url ${urlCheck.error.issues[0]?.message ?? 'is invalid'}`, { url: 'must be an http(s) URL' });

  const projectDir = flags.project !== undefined ? resolve(flags.project) : fileConfig.projectDir;
  if (!projectDir) throw usage('missing the test project: pass --project <dir> (or "project" in the config file)');

  const fileSlots = fileConfig.slots ?? [];
  const slotFlagGiven = [flags.target, flags.platform, flags.deviceName, flags.appiumUrl, flags.capabilities, flags.slotId].some((v) => v !== undefined);
  let slots: SlotConfig[];
  if (slotFlagGiven) {
    if (fileSlots.length > 1) {
      throw usage(`the slot flags describe one device, but the config file lists ${fileSlots.length} slots: edit the file instead`);
    }
    slots = [slotFromFlags(flags, fileSlots[0])];
  } else {
    slots = fileSlots;
  }
  if (slots.length === 0) {
    throw usage('missing a device slot: pass --target and --appium-url (or "slots" in a --config file)');
  }

  const apps = flags.app !== undefined ? { '*': resolvePath(process.cwd(), flags.app) } : (fileConfig.apps ?? {});
  const agentId = flags.agentId ?? fileConfig.agentId;
  if (agentId !== undefined && !AGENT_ID_PATTERN.test(agentId)) {
    throw usage(`--agent-id must be 1-128 letters, digits or . _ : @ - (no / or spaces), got "${agentId}"`, { agent_id: 'invalid characters' });
  }
  const name = flags.name ?? fileConfig.name;
  const workDir = flags.workDir !== undefined ? resolve(flags.workDir) : fileConfig.workDir;
  return {
    url,
    projectDir,
    apps,
    slots,
    ...(agentId !== undefined ? { agentId } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(workDir !== undefined ? { workDir } : {}),
    ...(flags.token ? { token: flags.token } : {}),
  };
}
