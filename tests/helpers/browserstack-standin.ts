/**
 * Test helper: a STAND-IN for BrowserStack App Automate, NOT BrowserStack. It listens on 127.0.0.1
 * only and never talks to BrowserStack's hosts. It answers BrowserStack's REST paths and JSON
 * shapes (as BrowserStack's public docs show them) and a WebDriver hub at `/wd/hub` whose sessions
 * are real sessions on a real Appium server (the fake driver), so clients exercise the same wire
 * formats they will meet on the real service:
 *
 * - `POST /app-automate/upload` (HTTP Basic): multipart `file` (+ optional `custom_id`) or form
 *   `url`; stores the build in a temp folder; answers `{app_url: "bs://<40 hex>", custom_id?,
 *   shareable_id?}`. Every upload gets a new id (derived from the account, an upload counter and
 *   the file's sha1; no randomness), so deduplication is the client's job.
 * - `DELETE /app-automate/app/delete/<id>` → `{success: true}` (BrowserStack's documented call);
 *   `deleteApp()` on the handle does the same, to play BrowserStack's 30-day expiry.
 * - `GET|PUT /app-automate/sessions/<id>.json` → `{automation_session: {...}}` with the documented
 *   field names; PUT takes `{status: "passed"|"failed", reason}` or `{name}`.
 * - `GET /app-automate/plan.json` → the plan fields (the stand-in has no queue: `queued_*` are 0).
 * - `/wd/hub/*`: `POST /wd/hub/session` checks `bstack:options` credentials, the `appium:app`
 *   reference (bs:// id, custom_id or shareable_id) and the parallel cap, then creates a fake-driver
 *   session with the stored file as `appium:app`; every other `/wd/hub/...` request is forwarded to
 *   Appium. BrowserStack's session id (`hashed_id`) is the sha1 of Appium's session id, so ids are
 *   rewritten 1:1 in paths and answers.
 *
 * Error answers and how sure we are of them:
 * - REST with bad credentials: 401, `WWW-Authenticate: Basic`, body `HTTP Basic: Access denied.`
 *   (the text clients report from BrowserStack's REST API; it is not JSON).
 * - Upload errors: `{"error": "[BROWSERSTACK_<CODE>] <message>"}` (the shape clients report).
 * - Hub refusals at session creation: HTTP 200 with `{"value": {"message": "..."}}` and no session
 *   id, which is how clients report BrowserStack's hub answering ("Request failed with status 200",
 *   "capabilities just show {message: 'Invalid username or password'}"). A client must detect a
 *   failed session creation by the missing session id, not only by the HTTP status.
 *   Messages: `Invalid username or password`; `[BROWSERSTACK_INVALID_APP_CAP] ...` and
 *   `[BROWSERSTACK_ALL_PARALLELS_IN_USE] All parallel tests are currently in use, including the
 *   queued tests. ...` (wording as reported by users); `[BROWSERSTACK_APP_DELETED] ...` (the code is
 *   documented; the sentence after it is the stand-in's own wording).
 * - 429 (rate limit) only when a test asks for it with `throttleNext(n)`; its body is ours.
 *
 * "Video": the fake driver cannot record the screen, and making up an mp4 would be a lie. What the
 * stand-in really has is the device's screen as the driver reports it: when a session is ended
 * (`DELETE /wd/hub/session/<id>`) it takes the session's final screenshot from Appium
 * (`GET /session/<id>/screenshot`, a real PNG) before ending it, and serves exactly those bytes as
 * `image/png` at `/videos/<id>.png?token=...`. `video_url` points there. Like BrowserStack's,
 * the URL is not usable right away: `video_url` is null while the session runs and for the first
 * `videoReadyAfterPolls` session-JSON reads after it ends, and then the first
 * `videoNotReadyFetches` fetches of the URL answer not-ready (the first a 200 with an empty body,
 * the rest 403, the two behaviours BrowserStack's video URLs are known for) before the PNG is
 * served. Consumers must take the content type from the answer, never assume video/mp4.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export interface BrowserStackStandinOptions {
  /** The Appium server (fake driver) that runs the sessions, e.g. `http://127.0.0.1:4723`. */
  appiumUrl: string;
  /** The one account the stand-in knows. */
  username: string;
  accessKey: string;
  /** Parallel sessions allowed at once (running plus being created). Default 5. */
  parallelCap?: number;
  /** Session-JSON reads after a session ends during which `video_url` is still null. Default 0. */
  videoReadyAfterPolls?: number;
  /** Fetches of the video URL that answer not-ready (first: 200 empty, then 403). Default 0. */
  videoNotReadyFetches?: number;
  /** Where the stand-in's log lines go (each starts with `[browserstack stand-in]`). Default: nowhere. */
  log?: (line: string) => void;
}

export interface StandinUpload {
  appUrl: string;
  fileName: string;
  bytes: number;
  sha1: string;
  customId: string | null;
  /** Set when the build came from a `url` form field. */
  sourceUrl: string | null;
  deleted: boolean;
}

export interface StandinSession {
  hashedId: string;
  appiumSessionId: string;
  status: 'running' | 'done' | 'passed' | 'failed';
  reason: string;
  name: string;
  projectName: string;
  buildName: string;
  device: string;
  os: string;
  osVersion: string;
  appUrl: string;
  createdAt: string;
  endedAt: string | null;
  /** WebDriver commands forwarded to Appium (session creation and deletion excluded). */
  commands: number;
  /** Session-JSON reads after the session ended. */
  pollsAfterEnd: number;
  /** Fetches of the video URL. */
  videoFetches: number;
  /** Bytes of the final screenshot kept as the session's "video"; 0 when none could be taken. */
  videoBytes: number;
  /** The `bstack:options` the session was created with, without the access key. */
  bstackOptions: Record<string, unknown>;
}

export interface BrowserStackStandin {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** The REST base (BrowserStack's `https://api-cloud.browserstack.com`). */
  apiUrl: string;
  /** The WebDriver hub (BrowserStack's `https://hub.browserstack.com/wd/hub`). */
  hubUrl: string;
  /** Every upload so far, in order (its length is the upload count). */
  uploads(): StandinUpload[];
  /** Every session so far, in order of creation. */
  sessions(): StandinSession[];
  /** Deletes an uploaded app as BrowserStack does after 30 days: sessions asking for it then fail with BROWSERSTACK_APP_DELETED. */
  deleteApp(appUrl: string): void;
  /** The next `n` REST calls (not hub calls, not video fetches) answer 429. */
  throttleNext(n: number): void;
  /** Ends the sessions still open on Appium, closes the server and removes the stored builds. */
  stop(): Promise<void>;
}

interface AppRecord extends StandinUpload {
  id: string;
  path: string;
  uploadedAt: string;
}

interface SessionRecord extends StandinSession {
  app: AppRecord;
  startedMs: number;
  endedMs: number | null;
  video: Buffer | null;
  videoNote: string;
  log: string[];
}

const PREFIX = '[browserstack stand-in]';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const sha1 = (data: string | Buffer) => createHash('sha1').update(data).digest('hex');

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: Buffer | string | object,
    readonly headers: Record<string, string> = {},
  ) {}
}

const json = (status: number, body: object, headers: Record<string, string> = {}) => new HttpAnswer(status, body, headers);

/** A hub refusal at session creation, in the shape clients report from BrowserStack's hub. */
const hubRefusal = (message: string) => json(200, { value: { message } });

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

function basicAuth(req: IncomingMessage): { user: string; key: string } | null {
  const h = req.headers.authorization;
  if (!h || !/^basic /i.test(h)) return null;
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? null : { user: decoded.slice(0, i), key: decoded.slice(i + 1) };
}

const asRecord = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const asString = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/**
 * Starts the stand-in on 127.0.0.1 (a free port) in this process.
 * @example const bs = await startBrowserStackStandin({ appiumUrl: appium.url, username: 'u', accessKey: 'k' }); try { ... } finally { await bs.stop(); }
 */
export async function startBrowserStackStandin(opts: BrowserStackStandinOptions): Promise<BrowserStackStandin> {
  const appiumUrl = opts.appiumUrl.replace(/\/+$/, '');
  const parallelCap = opts.parallelCap ?? 5;
  const videoReadyAfterPolls = opts.videoReadyAfterPolls ?? 0;
  const videoNotReadyFetches = opts.videoNotReadyFetches ?? 0;
  const log = (line: string) => opts.log?.(`${PREFIX} ${line}`);
  const storeDir = await mkdtemp(join(tmpdir(), 'qgjob-browserstack-standin-'));

  const apps = new Map<string, AppRecord>();
  const uploads: AppRecord[] = [];
  const sessions = new Map<string, SessionRecord>();
  let creating = 0;
  let throttle = 0;
  let baseUrl = '';

  const running = () => [...sessions.values()].filter((s) => s.endedMs === null).length;
  const videoToken = (id: string) => sha1(`video:${opts.accessKey}:${id}`).slice(0, 32);
  const credentialsOk = (user: string | null, key: string | null) => user === opts.username && key === opts.accessKey;

  const view = (s: SessionRecord): StandinSession => ({
    hashedId: s.hashedId,
    appiumSessionId: s.appiumSessionId,
    status: s.status,
    reason: s.reason,
    name: s.name,
    projectName: s.projectName,
    buildName: s.buildName,
    device: s.device,
    os: s.os,
    osVersion: s.osVersion,
    appUrl: s.appUrl,
    createdAt: s.createdAt,
    endedAt: s.endedAt,
    commands: s.commands,
    pollsAfterEnd: s.pollsAfterEnd,
    videoFetches: s.videoFetches,
    videoBytes: s.video?.length ?? 0,
    bstackOptions: { ...s.bstackOptions },
  });

  // ---- REST ---------------------------------------------------------------------------------

  async function storeApp(fileName: string, data: Buffer, customId: string | null, sourceUrl: string | null): Promise<AppRecord> {
    const seq = uploads.length + 1;
    const fileSha1 = sha1(data);
    const id = sha1(`${opts.username}:${seq}:${fileSha1}`);
    const dir = join(storeDir, id);
    await mkdir(dir, { recursive: true });
    const path = join(dir, basename(fileName) || 'app');
    await writeFile(path, data);
    const rec: AppRecord = {
      id,
      path,
      appUrl: `bs://${id}`,
      fileName: basename(fileName) || 'app',
      bytes: data.length,
      sha1: fileSha1,
      customId,
      sourceUrl,
      deleted: false,
      uploadedAt: new Date().toISOString(),
    };
    apps.set(id, rec);
    uploads.push(rec);
    return rec;
  }

  async function upload(req: IncomingMessage, body: Buffer): Promise<HttpAnswer> {
    let form: FormData;
    try {
      form = await new Request('http://standin/upload', {
        method: 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? '' },
        body: new Uint8Array(body),
      }).formData();
    } catch {
      return json(400, { error: '[BROWSERSTACK_INVALID_REQUEST] The request body is not multipart/form-data or a urlencoded form (stand-in wording).' });
    }
    const file = form.get('file');
    const url = asString(form.get('url'));
    const rawCustomId = asString(form.get('custom_id'));
    // BrowserStack keeps A-Z a-z 0-9 . - _ of a custom_id and ignores the rest (100 characters at most).
    const customId = rawCustomId ? rawCustomId.replace(/[^A-Za-z0-9._-]/g, '').slice(0, 100) || null : null;
    let rec: AppRecord;
    if (file && typeof file !== 'string') {
      rec = await storeApp(file.name || 'app', Buffer.from(await file.arrayBuffer()), customId, null);
    } else if (url) {
      let res: Response;
      try {
        res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
      } catch (err) {
        return json(422, { error: `[BROWSERSTACK_INCORRECT_URL] The app could not be downloaded from the url (${(err as Error).message}) (stand-in wording).` });
      }
      if (!res.ok) return json(422, { error: `[BROWSERSTACK_INCORRECT_URL] The url answered HTTP ${res.status} (stand-in wording).` });
      rec = await storeApp(basename(new URL(url).pathname) || 'app', Buffer.from(await res.arrayBuffer()), customId, url);
    } else {
      return json(400, { error: '[BROWSERSTACK_INVALID_REQUEST] Either the file or the url parameter is required (stand-in wording).' });
    }
    log(`upload ${uploads.length}: ${rec.fileName} (${rec.bytes} bytes) → ${rec.appUrl}`);
    const answer: Record<string, string> = { app_url: rec.appUrl };
    if (customId) {
      answer.custom_id = customId;
      answer.shareable_id = `${opts.username}/${customId}`;
    }
    return json(200, answer);
  }

  function sessionJson(s: SessionRecord, countPoll: boolean): object {
    if (countPoll && s.endedMs !== null) s.pollsAfterEnd++;
    const videoReady = s.endedMs !== null && s.video !== null && s.pollsAfterEnd > videoReadyAfterPolls;
    const page = `${baseUrl}/builds/${sha1(`build:${s.buildName}`)}/sessions/${s.hashedId}`;
    return {
      automation_session: {
        name: s.name,
        duration: Math.round(((s.endedMs ?? Date.now()) - s.startedMs) / 1000),
        os: s.os,
        os_version: s.osVersion,
        browser_version: 'app',
        browser: null,
        device: s.device,
        status: s.status,
        hashed_id: s.hashedId,
        reason: s.reason,
        build_name: s.buildName,
        project_name: s.projectName,
        build_hashed_id: sha1(`build:${s.buildName}`),
        created_at: s.createdAt,
        logs: `${page}/logs`,
        browser_url: page,
        public_url: `${page}?auth_token=${videoToken(s.hashedId)}`,
        appium_logs_url: `${page}/logs`,
        video_url: videoReady ? `${baseUrl}/videos/${s.hashedId}.png?token=${videoToken(s.hashedId)}` : null,
        app_details: {
          app_url: s.app.appUrl,
          app_name: s.app.fileName,
          app_version: null,
          app_custom_id: s.app.customId,
          uploaded_at: s.app.uploadedAt,
        },
      },
    };
  }

  async function rest(req: IncomingMessage, path: string, body: Buffer): Promise<HttpAnswer> {
    const auth = basicAuth(req);
    if (!auth || !credentialsOk(auth.user, auth.key)) {
      return new HttpAnswer(401, 'HTTP Basic: Access denied.\n', { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Basic realm="Application"' });
    }
    if (throttle > 0) {
      throttle--;
      return json(429, { message: 'Too many requests (stand-in wording; BrowserStack allows 1,600 requests per 5 minutes per user).' });
    }
    const method = req.method ?? 'GET';
    if (method === 'POST' && path === '/app-automate/upload') return upload(req, body);
    if (method === 'GET' && path === '/app-automate/plan.json') {
      const n = running() + creating;
      return json(200, {
        automate_plan: 'App Automate (stand-in)',
        parallel_sessions_running: n,
        team_parallel_sessions_max_allowed: parallelCap,
        parallel_sessions_max_allowed: parallelCap,
        queued_sessions: 0,
        queued_sessions_max_allowed: 0,
      });
    }
    const del = /^\/app-automate\/app\/delete\/([^/]+)$/.exec(path);
    if (method === 'DELETE' && del) {
      const rec = apps.get(del[1]!.replace(/^bs:\/\//, ''));
      if (!rec || rec.deleted) return json(404, { error: 'App not found (stand-in wording).' });
      rec.deleted = true;
      log(`app ${rec.appUrl} deleted`);
      return json(200, { success: true });
    }
    const m = /^\/app-automate\/sessions\/([^/]+)\.json$/.exec(path);
    if (m) {
      const s = sessions.get(m[1]!);
      if (!s) return json(404, { message: 'Session not found (stand-in wording).' });
      if (method === 'GET') return json(200, sessionJson(s, true));
      if (method === 'PUT') {
        let update: Record<string, unknown>;
        try {
          update = asRecord(JSON.parse(body.toString('utf8') || '{}'));
        } catch {
          return json(422, { message: 'The body is not JSON (stand-in wording).' });
        }
        const status = update.status;
        if (status !== undefined) {
          if (status !== 'passed' && status !== 'failed') return json(422, { message: 'status must be "passed" or "failed" (stand-in wording).' });
          s.status = status;
          s.reason = typeof update.reason === 'string' ? update.reason : '';
        }
        if (typeof update.name === 'string') s.name = update.name;
        log(`session ${s.hashedId} marked ${s.status}${s.reason ? ` (${s.reason.slice(0, 80)})` : ''}`);
        return json(200, sessionJson(s, false));
      }
    }
    return json(404, { message: `No such endpoint: ${method} ${path} (stand-in).` });
  }

  // ---- WebDriver hub ------------------------------------------------------------------------

  async function toAppium(method: string, path: string, body?: Buffer): Promise<{ status: number; text: string }> {
    const res = await fetch(appiumUrl + path, {
      method,
      headers: body && body.length ? { 'content-type': 'application/json; charset=utf-8' } : {},
      body: body && body.length && method !== 'GET' ? new Uint8Array(body) : undefined,
      signal: AbortSignal.timeout(300_000),
    });
    return { status: res.status, text: await res.text() };
  }

  async function newSession(req: IncomingMessage, body: Buffer): Promise<HttpAnswer> {
    let parsed: Record<string, unknown>;
    try {
      parsed = asRecord(JSON.parse(body.toString('utf8')));
    } catch {
      return json(400, { value: { error: 'invalid argument', message: 'The new session request is not JSON.' } });
    }
    const w3c = asRecord(parsed.capabilities);
    const first = Array.isArray(w3c.firstMatch) ? asRecord(w3c.firstMatch[0]) : {};
    const caps: Record<string, unknown> = { ...asRecord(parsed.desiredCapabilities), ...asRecord(w3c.alwaysMatch), ...first };
    const bs = asRecord(caps['bstack:options']);
    const header = basicAuth(req);
    const user = asString(bs.userName) ?? asString(caps['browserstack.user']) ?? header?.user ?? null;
    const key = asString(bs.accessKey) ?? asString(caps['browserstack.key']) ?? header?.key ?? null;
    if (!credentialsOk(user, key)) {
      log('new session refused: bad credentials');
      return hubRefusal('Invalid username or password');
    }
    const appRef = asString(caps['appium:app']) ?? asString(caps.app) ?? asString(bs.app);
    let app: AppRecord | undefined;
    if (appRef?.startsWith('bs://')) app = apps.get(appRef.slice(5));
    else if (appRef) {
      const custom = appRef.startsWith(`${opts.username}/`) ? appRef.slice(opts.username.length + 1) : appRef;
      app = [...uploads].reverse().find((a) => a.customId === custom);
    }
    if (app?.deleted) {
      log(`new session refused: app ${app.appUrl} was deleted`);
      return hubRefusal(`[BROWSERSTACK_APP_DELETED] The app ${app.appUrl} specified in the 'app' capability has been deleted. Upload it again and use the new app_url (stand-in wording after the code).`);
    }
    if (!app) {
      log(`new session refused: unknown app ${appRef ?? '(none)'}`);
      return hubRefusal(
        "[BROWSERSTACK_INVALID_APP_CAP] The app_url/ custom_id/ shareable_id specified in the 'app' capability in your test script is invalid. Please update the 'app' capability with a valid value and try again.",
      );
    }
    if (running() + creating >= parallelCap) {
      log(`new session refused: ${running()} running, ${creating} starting, cap ${parallelCap}`);
      return hubRefusal(
        '[BROWSERSTACK_ALL_PARALLELS_IN_USE] All parallel tests are currently in use, including the queued tests. Please wait to finish or upgrade your plan to add more sessions.',
      );
    }
    // What reaches Appium: the fake driver and the stored file. Other appium:* capabilities pass through.
    const forwarded: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(caps)) if (k.startsWith('appium:')) forwarded[k] = v;
    Object.assign(forwarded, {
      platformName: 'Fake',
      'appium:automationName': 'Fake',
      'appium:app': app.path,
      // BrowserStack ends a session idle for bstack:options.idleTimeout seconds (default 90).
      'appium:newCommandTimeout': typeof bs.idleTimeout === 'number' ? bs.idleTimeout : 90,
    });
    delete forwarded['appium:deviceName'];
    creating++;
    let created: { status: number; text: string };
    try {
      created = await toAppium('POST', '/session', Buffer.from(JSON.stringify({ capabilities: { alwaysMatch: forwarded, firstMatch: [{}] } })));
    } catch (err) {
      return json(500, { value: { error: 'session not created', message: `The device could not be reached: ${(err as Error).message}` } });
    } finally {
      creating--;
    }
    let value: Record<string, unknown>;
    try {
      value = asRecord(asRecord(JSON.parse(created.text)).value);
    } catch {
      return json(500, { value: { error: 'session not created', message: `The device answered HTTP ${created.status}, not JSON.` } });
    }
    const appiumId = asString(value.sessionId);
    if (created.status !== 200 || !appiumId) return new HttpAnswer(created.status, created.text, { 'content-type': 'application/json; charset=utf-8' });
    const hashedId = sha1(appiumId);
    const platform = (asString(caps.platformName) ?? asString(bs.platformName) ?? 'android').toLowerCase();
    const { accessKey: _hidden, ...bsShown } = bs;
    const rec: SessionRecord = {
      hashedId,
      appiumSessionId: appiumId,
      status: 'running',
      reason: '',
      name: asString(bs.sessionName) ?? '',
      projectName: asString(bs.projectName) ?? '',
      buildName: asString(bs.buildName) ?? '',
      device: asString(bs.deviceName) ?? asString(caps['appium:deviceName']) ?? '',
      os: platform,
      osVersion: asString(bs.osVersion) ?? asString(caps['appium:platformVersion']) ?? '',
      appUrl: app.appUrl,
      createdAt: new Date().toISOString(),
      endedAt: null,
      commands: 0,
      pollsAfterEnd: 0,
      videoFetches: 0,
      videoBytes: 0,
      bstackOptions: bsShown,
      app,
      startedMs: Date.now(),
      endedMs: null,
      video: null,
      videoNote: '',
      log: [],
    };
    sessions.set(hashedId, rec);
    log(`session ${hashedId} started on Appium session ${appiumId} (${rec.device || 'no device name'}, ${app.appUrl})`);
    // Answer Appium's capabilities (the device really is the fake driver), but with the app named
    // by its bs:// id as BrowserStack does, not by the stand-in's storage path.
    const matched = asRecord(value.capabilities);
    return json(200, { value: { ...value, sessionId: hashedId, capabilities: { ...matched, app: app.appUrl } } });
  }

  /** Ends a session: keeps its final screenshot as the "video", then deletes it on Appium. */
  async function endSession(s: SessionRecord): Promise<{ status: number; text: string }> {
    try {
      const shot = await toAppium('GET', `/session/${s.appiumSessionId}/screenshot`);
      const b64 = asString(asRecord(JSON.parse(shot.text)).value);
      const png = b64 ? Buffer.from(b64, 'base64') : null;
      if (shot.status === 200 && png && png.subarray(0, 8).equals(PNG_SIGNATURE)) s.video = png;
      else s.videoNote = `the final screenshot could not be taken (HTTP ${shot.status})`;
    } catch (err) {
      s.videoNote = `the final screenshot could not be taken (${(err as Error).message})`;
    }
    let answer: { status: number; text: string };
    try {
      answer = await toAppium('DELETE', `/session/${s.appiumSessionId}`);
    } catch (err) {
      answer = { status: 200, text: JSON.stringify({ value: null }) };
      s.log.push(`DELETE on Appium failed: ${(err as Error).message}`);
    }
    s.endedMs = Date.now();
    s.endedAt = new Date(s.endedMs).toISOString();
    if (s.status === 'running') {
      s.status = 'done';
      s.reason = 'CLIENT_STOPPED_SESSION';
    }
    log(`session ${s.hashedId} ended (${s.status}); final screenshot ${s.video ? `${s.video.length} bytes` : `missing: ${s.videoNote}`}`);
    return answer;
  }

  async function hub(req: IncomingMessage, path: string, body: Buffer): Promise<HttpAnswer> {
    const method = req.method ?? 'GET';
    const rest = path.slice('/wd/hub'.length) || '/';
    if (method === 'POST' && rest === '/session') return newSession(req, body);
    const m = /^\/session\/([^/]+)(\/.*)?$/.exec(rest);
    if (!m) {
      const r = await toAppium(method, rest, body);
      return new HttpAnswer(r.status, r.text, { 'content-type': 'application/json; charset=utf-8' });
    }
    const s = sessions.get(m[1]!);
    if (!s || s.endedMs !== null) {
      return json(404, { value: { error: 'invalid session id', message: `Session ${m[1]} is not running on this hub.` } });
    }
    const tail = m[2] ?? '';
    const r = method === 'DELETE' && tail === '' ? await endSession(s) : await toAppium(method, `/session/${s.appiumSessionId}${tail}`, body);
    if (tail !== '') s.commands++;
    s.log.push(`${method} ${tail || '/'} → ${r.status}`);
    return new HttpAnswer(r.status, r.text.split(s.appiumSessionId).join(s.hashedId), { 'content-type': 'application/json; charset=utf-8' });
  }

  // ---- "video" and pages --------------------------------------------------------------------

  function video(req: IncomingMessage, id: string, token: string | null): HttpAnswer {
    const s = sessions.get(id);
    if (!s || token !== videoToken(id)) return new HttpAnswer(403, 'Forbidden\n', { 'content-type': 'text/plain' });
    s.videoFetches++;
    if (!s.video) return new HttpAnswer(404, `No recording for this session: ${s.videoNote || 'it is still running'}\n`, { 'content-type': 'text/plain' });
    if (s.videoFetches <= videoNotReadyFetches) {
      return s.videoFetches === 1
        ? new HttpAnswer(200, Buffer.alloc(0), { 'content-type': 'image/png' })
        : new HttpAnswer(403, 'Forbidden: not ready yet\n', { 'content-type': 'text/plain' });
    }
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (range && (range[1] || range[2])) {
      const size = s.video.length;
      let start = range[1] ? Number(range[1]) : size - Number(range[2]);
      let end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      start = Math.max(0, start);
      if (start > end || start >= size) return new HttpAnswer(416, Buffer.alloc(0), { 'content-range': `bytes */${size}` });
      end = Math.min(end, size - 1);
      return new HttpAnswer(206, s.video.subarray(start, end + 1), { 'content-type': 'image/png', 'content-range': `bytes ${start}-${end}/${size}`, 'accept-ranges': 'bytes' });
    }
    return new HttpAnswer(200, s.video, { 'content-type': 'image/png', 'accept-ranges': 'bytes' });
  }

  function page(id: string, logs: boolean): HttpAnswer {
    const s = sessions.get(id);
    if (!s) return new HttpAnswer(404, 'Not found\n', { 'content-type': 'text/plain' });
    const text = logs
      ? s.log.join('\n') + '\n'
      : `BrowserStack stand-in session ${s.hashedId}: ${s.status}${s.reason ? ` (${s.reason})` : ''}, ${s.device}, ${s.app.appUrl}\n`;
    return new HttpAnswer(200, text, { 'content-type': 'text/plain; charset=utf-8' });
  }

  // ---- server -------------------------------------------------------------------------------

  async function route(req: IncomingMessage): Promise<HttpAnswer> {
    const url = new URL(req.url ?? '/', 'http://standin');
    const path = url.pathname;
    const body = await readBody(req);
    if (path === '/wd/hub' || path.startsWith('/wd/hub/')) return hub(req, path, body);
    if (path.startsWith('/app-automate/')) return rest(req, path, body);
    const v = /^\/videos\/([^/]+)\.png$/.exec(path);
    if (v && req.method === 'GET') return video(req, v[1]!, url.searchParams.get('token'));
    const p = /^\/builds\/[^/]+\/sessions\/([^/]+)(\/logs)?$/.exec(path);
    if (p && req.method === 'GET') return page(p[1]!, Boolean(p[2]));
    return json(404, { message: `No such endpoint on the BrowserStack stand-in: ${req.method} ${path}` });
  }

  function send(res: ServerResponse, a: HttpAnswer): void {
    const isBuf = Buffer.isBuffer(a.body);
    const payload = isBuf ? (a.body as Buffer) : typeof a.body === 'string' ? Buffer.from(a.body) : Buffer.from(JSON.stringify(a.body));
    const headers: Record<string, string> = { ...a.headers, 'content-length': String(payload.length) };
    if (!headers['content-type'] && !isBuf) headers['content-type'] = 'application/json; charset=utf-8';
    res.writeHead(a.status, headers);
    res.end(payload);
  }

  const server: Server = createServer((req, res) => {
    route(req)
      .then((a) => send(res, a))
      .catch((err: unknown) => {
        log(`${req.method} ${req.url} failed: ${(err as Error).message}`);
        if (!res.headersSent) send(res, json(500, { value: { error: 'unknown error', message: `stand-in failure: ${(err as Error).message}` } }));
        else res.destroy();
      });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  log(`listening on ${baseUrl} (hub ${baseUrl}/wd/hub), backed by Appium at ${appiumUrl}`);

  return {
    url: baseUrl,
    apiUrl: baseUrl,
    hubUrl: `${baseUrl}/wd/hub`,
    uploads: () => uploads.map(({ appUrl, fileName, bytes, sha1: s, customId, sourceUrl, deleted }) => ({ appUrl, fileName, bytes, sha1: s, customId, sourceUrl, deleted })),
    sessions: () => [...sessions.values()].map(view),
    deleteApp(appUrl: string) {
      const rec = apps.get(appUrl.replace(/^bs:\/\//, ''));
      if (!rec) throw new Error(`${PREFIX} no app ${appUrl}`);
      rec.deleted = true;
      log(`app ${appUrl} deleted`);
    },
    throttleNext(n: number) {
      throttle = n;
    },
    async stop() {
      for (const s of sessions.values()) {
        if (s.endedMs === null) await toAppium('DELETE', `/session/${s.appiumSessionId}`).catch(() => undefined);
      }
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => undefined);
      await rm(storeDir, { recursive: true, force: true });
      log('stopped');
    },
  };
}
