/**
 * The agent's BrowserStack client against the BrowserStack STAND-IN (tests/helpers/browserstack-standin.ts),
 * whose hub runs real sessions on a real Appium 3 server with the fake driver. Nothing here reaches
 * BrowserStack. Tests share one stand-in and run in order; each ends the sessions it starts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFile, copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { fileURLToPath } from 'node:url';
import {
  AppUploadCache,
  BrowserStackClient,
  BrowserStackError,
  capabilitiesFor,
  credentialsFromEnv,
  redactCapabilities,
  startSessionWithApp,
} from '../../agent/cloud/browserstack.js';
import { command } from '../../agent/device/webdriver-client.js';
import { fakeAppPath, startAppium, type AppiumServer } from '../helpers/appium.js';
import { startBrowserStackStandin, type BrowserStackStandin } from '../helpers/browserstack-standin.js';

const USER = 'qg-user';
const KEY = 'qgSecretKey0123456789'; // 20+ characters like a real key; must never show up in messages
const screenPng = fileURLToPath(new URL('../../node_modules/@appium/fake-driver/build/lib/screen.png', import.meta.url));

let appium: AppiumServer | undefined;
let bs: BrowserStackStandin | undefined;
let tmp = '';
let build = ''; // the "app build": a copy of the fake app the test may change
const standinLog: string[] = [];

const client = (over: Partial<ConstructorParameters<typeof BrowserStackClient>[0]> = {}) =>
  new BrowserStackClient({ username: USER, accessKey: KEY, apiBase: bs!.apiUrl, hubUrl: bs!.hubUrl, rateLimitDelayMs: 5, ...over });

const caps = (c: BrowserStackClient, appUrl: string, sessionName = 'login works') =>
  c.capabilities({ platform: 'android', deviceName: 'Google Pixel 8', osVersion: '14.0', appUrl, projectName: 'qgjob', buildName: 'qgjob 1.4.2', sessionName });

async function rejects(p: Promise<unknown>): Promise<BrowserStackError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BrowserStackError) return err;
    throw err;
  }
  throw new Error('expected a BrowserStackError');
}

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qgjob-bs-test-'));
  build = join(tmp, 'app-release.xml');
  await copyFile(fakeAppPath, build);
  appium = await startAppium();
  bs = await startBrowserStackStandin({
    appiumUrl: appium.url,
    username: USER,
    accessKey: KEY,
    parallelCap: 2,
    videoReadyAfterPolls: 2,
    videoNotReadyFetches: 2,
    log: (l) => standinLog.push(l),
  });
});

test.after(async () => {
  await bs?.stop();
  await appium?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('capabilities put the vendor options, credentials included, in bstack:options', () => {
  const c = capabilitiesFor({
    platform: 'ios',
    deviceName: 'iPhone 15',
    osVersion: '17',
    appUrl: 'bs://abc',
    buildName: 'b',
    username: 'u',
    accessKey: 'k-secret',
    extra: { 'appium:autoAcceptAlerts': true, 'bstack:options': { idleTimeout: 300 } },
  });
  assert.equal(c, {
    platformName: 'iOS',
    'appium:autoAcceptAlerts': true,
    'appium:app': 'bs://abc',
    'bstack:options': { userName: 'u', accessKey: 'k-secret', deviceName: 'iPhone 15', osVersion: '17', buildName: 'b', idleTimeout: 300 },
  });
  assert.not.match(JSON.stringify(redactCapabilities(c)), 'k-secret');
  assert.throws(() => credentialsFromEnv({ BROWSERSTACK_USERNAME: 'u' }), /BROWSERSTACK_ACCESS_KEY is empty/);
  assert.equal(credentialsFromEnv({ BS_U: 'u', BS_K: 'k' }, { username: 'BS_U', accessKey: 'BS_K' }), { username: 'u', accessKey: 'k' });
});

test('a build is uploaded once per hash, across cache instances (agent restarts); a changed file is uploaded again', async () => {
  const c = client();
  const cacheDir = join(tmp, 'cache-a');
  const cache = new AppUploadCache({ client: c, dir: cacheDir });
  const [a, b] = await Promise.all([cache.appUrlFor(build), cache.appUrlFor(build)]); // concurrent: one upload
  const again = await cache.appUrlFor(build);
  assert.is(bs!.uploads().length, 1);
  assert.ok(a.appUrl.startsWith('bs://'));
  assert.is(b.appUrl, a.appUrl);
  assert.is(again.appUrl, a.appUrl);
  assert.is(again.uploaded, false);

  const restarted = new AppUploadCache({ client: c, dir: cacheDir });
  assert.is((await restarted.appUrlFor(build)).appUrl, a.appUrl);
  assert.is(bs!.uploads().length, 1, 'the persisted id is reused after a restart');
  const onDisk = await readFile(restarted.file, 'utf8');
  assert.match(onDisk, a.appUrl);
  assert.not.match(onDisk, KEY);

  const changed = join(tmp, 'app-release-2.xml');
  await copyFile(build, changed);
  await appendFile(changed, '<!-- rebuilt -->\n');
  const second = await restarted.appUrlFor(changed);
  assert.is(second.uploaded, true);
  assert.is.not(second.appUrl, a.appUrl);
  assert.is(bs!.uploads().length, 2);
  assert.is(bs!.uploads()[0]!.fileName, 'app-release.xml');

  // An id uploaded by another agent (handed over by the coordinator) is used as is.
  const other = new AppUploadCache({ client: c, dir: join(tmp, 'cache-b') });
  await other.remember(a.sha256, a.appUrl);
  assert.equal(await other.appUrlFor(build), { appUrl: a.appUrl, uploaded: false, sha256: a.sha256 });
  assert.is(bs!.uploads().length, 2);
});

test('a session at the hub with bstack:options runs on the fake app; marked passed; its "video" becomes ready after N polls', async () => {
  const c = client();
  const cache = new AppUploadCache({ client: c, dir: join(tmp, 'cache-a') });
  const started = await startSessionWithApp({ client: c, cache, file: build, capabilities: (appUrl) => caps(c, appUrl) });
  assert.is(started.uploaded, false, 'the build was uploaded by the previous test');
  assert.is(bs!.uploads().length, 2);
  const id = started.session.sessionId;
  assert.match(id, /^[0-9a-f]{40}$/, "BrowserStack-style hashed_id, not Appium's id");
  assert.not.match(JSON.stringify(started.session.capabilities), KEY);
  assert.is(started.session.capabilities.app, started.appUrl, 'the hub names the app by its bs:// id');

  // Use the session through the agent's plain WebDriver client, as a spec would through the hub.
  const el = await command<Record<string, string>>(bs!.hubUrl, 'POST', `/session/${id}/element`, { using: 'xpath', value: '//MockButton[@id="login"]' });
  const elementId = Object.values(el)[0]!;
  await command(bs!.hubUrl, 'POST', `/session/${id}/element/${elementId}/click`, {});
  assert.is(await command(bs!.hubUrl, 'GET', `/session/${id}/element/${elementId}/attribute/clicks`), '1');

  const running = await c.sessionDetails(id);
  assert.is(running.status, 'running');
  assert.is(running.hashed_id, id);
  assert.is(running.name, 'login works');
  assert.is(running.device, 'Google Pixel 8');
  assert.is(running.os_version, '14.0');
  assert.is(running.build_name, 'qgjob 1.4.2');
  assert.is(running.project_name, 'qgjob');
  assert.is(running.video_url, null, 'no video while the session runs');
  assert.is((running.app_details as { app_url: string }).app_url, started.appUrl);
  const seen = bs!.sessions().find((s) => s.hashedId === id)!;
  assert.is(seen.bstackOptions.deviceName, 'Google Pixel 8');
  assert.is(seen.bstackOptions.accessKey, undefined, 'the stand-in does not keep the key');
  assert.is(seen.commands, 3);

  const marked = await c.markSession(id, 'passed', '3 tests passed');
  assert.is(marked.status, 'passed');
  await c.deleteSession(id);
  const ended = await c.sessionDetails(id); // poll 1 after the end
  assert.is(ended.status, 'passed', 'the status set by PUT survives the end of the session');
  assert.is(ended.reason, '3 tests passed');
  assert.is(ended.video_url, null);

  const video = await c.waitForVideoUrl(id, { attempts: 8, firstDelayMs: 5, maxDelayMs: 20 });
  assert.ok(video.url, video.reason ?? '');
  assert.is(video.contentType, 'image/png', 'the stand-in serves what it has: the final screenshot, as a PNG');
  // Reads: poll 2 (null), poll 3 (URL; fetch 1: 200 empty), poll 4 (fetch 2: 403), poll 5 (ready).
  assert.is(video.attempts, 4);
  const after = bs!.sessions().find((s) => s.hashedId === id)!;
  assert.is(after.pollsAfterEnd, 5);
  assert.is(after.videoFetches, 3);

  const res = await fetch(video.url!);
  assert.is(res.status, 200);
  assert.is(res.headers.get('content-type'), 'image/png');
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.ok(bytes.equals(await readFile(screenPng)), "the bytes are the fake driver's real screenshot");
});

test('a video that never becomes ready gives null with the reason, within the bound', async () => {
  const c = client();
  const cache = new AppUploadCache({ client: c, dir: join(tmp, 'cache-a') });
  const { session } = await startSessionWithApp({ client: c, cache, file: build, capabilities: (appUrl) => caps(c, appUrl, 'no video') });
  await c.deleteSession(session.sessionId);
  const video = await c.waitForVideoUrl(session.sessionId, { attempts: 2, firstDelayMs: 1, maxDelayMs: 2 });
  assert.is(video.url, null);
  assert.is(video.attempts, 2);
  assert.match(video.reason!, /video_url is not set yet \(session status done\)/);
});

test('429 answers are backed off and retried', async () => {
  const c = client({ rateLimitRetries: 1 });
  const cache = new AppUploadCache({ client: c, dir: join(tmp, 'cache-a') });
  const { session } = await startSessionWithApp({ client: c, cache, file: build, capabilities: (appUrl) => caps(c, appUrl, 'throttled') });
  bs!.throttleNext(1);
  assert.is((await c.markSession(session.sessionId, 'failed', 'expected "Log in" to be visible')).status, 'failed', 'one 429, then retried');
  await c.deleteSession(session.sessionId);
  bs!.throttleNext(4); // more than the client retries: the video wait counts them as reads and carries on
  const video = await c.waitForVideoUrl(session.sessionId, { attempts: 10, firstDelayMs: 1, maxDelayMs: 5 });
  assert.ok(video.url, video.reason ?? '');
});

test('wrong credentials: clear errors that never contain the access key', async () => {
  const wrongKey = 'wrongKey9876543210abcd';
  const c = client({ accessKey: wrongKey });
  const up = await rejects(c.uploadApp(build));
  assert.is(up.code, 'auth-failed');
  assert.is(up.httpStatus, 401);
  assert.match(up.message, 'HTTP Basic: Access denied');
  assert.match(up.message, `username "${USER}"`);

  const ok = client();
  const appUrl = (await new AppUploadCache({ client: ok, dir: join(tmp, 'cache-a') }).appUrlFor(build)).appUrl;
  const hub = await rejects(c.createSession(caps(c, appUrl)));
  assert.is(hub.code, 'auth-failed');
  assert.match(hub.message, 'Invalid username or password');
  const details = await rejects(c.sessionDetails('0'.repeat(40)));
  assert.is(details.code, 'auth-failed');
  for (const e of [up, hub, details]) {
    assert.not.match(e.message, wrongKey);
    assert.not.match(inspect(e), wrongKey);
  }
  assert.not.match(inspect(c), wrongKey);
  assert.not.match(JSON.stringify(c), wrongKey);
  assert.not.match(standinLog.join('\n'), wrongKey);
  assert.not.match(standinLog.join('\n'), KEY);
});

test("the parallel cap is enforced with BrowserStack's message, and the plan reports it", async () => {
  const c = client();
  const cache = new AppUploadCache({ client: c, dir: join(tmp, 'cache-a') });
  const open = async (name: string) => (await startSessionWithApp({ client: c, cache, file: build, capabilities: (u) => caps(c, u, name) })).session.sessionId;
  const one = await open('p1');
  const two = await open('p2');
  try {
    const plan = await c.plan();
    assert.is(plan.parallel_sessions_max_allowed, 2);
    assert.is(plan.parallel_sessions_running, 2);
    const refused = await rejects(open('p3'));
    assert.is(refused.code, 'parallels-in-use');
    assert.is(refused.browserstackCode, 'BROWSERSTACK_ALL_PARALLELS_IN_USE');
    assert.match(refused.message, 'All parallel tests are currently in use, including the queued tests');
  } finally {
    await c.deleteSession(one);
  }
  const three = await open('p3');
  await c.deleteSession(two);
  await c.deleteSession(three);
  assert.is((await c.plan()).parallel_sessions_running, 0);
});

test('an app BrowserStack deleted is uploaded again and the session retried once; an unknown id is refused', async () => {
  const c = client();
  const cache = new AppUploadCache({ client: c, dir: join(tmp, 'cache-a') });
  const before = await cache.appUrlFor(build);
  await c.deleteApp(before.appUrl); // BrowserStack's 30-day expiry, through its documented delete call
  const uploads = bs!.uploads().length;
  const said: string[] = [];
  const started = await startSessionWithApp({ client: c, cache, file: build, capabilities: (u) => caps(c, u, 'after expiry'), say: (l) => said.push(l) });
  assert.is(started.reuploadedAfterRefusal, true);
  assert.is.not(started.appUrl, before.appUrl);
  assert.is(bs!.uploads().length, uploads + 1);
  assert.match(said.join('\n'), 'BROWSERSTACK_APP_DELETED');
  assert.is((await cache.appUrlFor(build)).appUrl, started.appUrl, 'the cache now holds the new id');
  await c.deleteSession(started.session.sessionId);

  const unknown = await rejects(c.createSession(caps(c, `bs://${'f'.repeat(40)}`)));
  assert.is(unknown.code, 'invalid-app');
  assert.match(unknown.message, 'BROWSERSTACK_INVALID_APP_CAP');
});

test.run();
