/**
 * The agent's configuration: a lab JSON file (validated, paths resolved against its folder) and the
 * `qgjob agent` flags laid over it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentOptionsFromFlags, loadAgentConfig } from '../../agent/config.js';
import { QgError } from '../../shared/index.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
let dir = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qgjob-agent-config-'));
});
test.after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const slot = (over: Record<string, unknown> = {}) => ({
  id: 'pixel-7',
  target: 'emulator',
  platform: 'android',
  device_name: 'Pixel 7',
  appium_url: 'http://127.0.0.1:4723',
  ...over,
});

async function writeConfig(name: string, value: unknown): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

/** Runs `fn`, expects a validation_failed QgError, and returns it. */
async function rejects(fn: () => unknown): Promise<QgError> {
  try {
    await fn();
  } catch (err) {
    assert.instance(err, QgError);
    assert.is((err as QgError).code, 'validation_failed');
    assert.not.match((err as QgError).message, /\n/, 'the message is one line');
    return err as QgError;
  }
  assert.unreachable('expected a validation error');
  throw new Error('unreachable');
}

test('a valid file loads, camelCased, with relative paths resolved against its folder', async () => {
  const file = await writeConfig('lab.json', {
    url: 'http://10.0.0.5:8080',
    name: 'lab-1',
    agent_id: 'lab-1-agent',
    project: 'specs',
    apps: { '*': 'builds/app.apk', '12345678901234567890': '/abs/app-2.apk', v3: 'bs://c700ce60cf13ae8ed97705a55b8e022f13c5827c' },
    work_dir: 'work',
    slots: [slot({ capabilities: { 'appium:udid': 'emulator-5554' } }), slot({ id: 'iphone', platform: 'ios', target: 'device', device_name: 'iPhone 15' })],
  });
  const c = await loadAgentConfig(file);
  assert.equal(c, {
    url: 'http://10.0.0.5:8080',
    name: 'lab-1',
    agentId: 'lab-1-agent',
    projectDir: join(dir, 'specs'),
    apps: { '*': join(dir, 'builds/app.apk'), '12345678901234567890': '/abs/app-2.apk', v3: 'bs://c700ce60cf13ae8ed97705a55b8e022f13c5827c' },
    workDir: join(dir, 'work'),
    slots: [
      { slotId: 'pixel-7', target: 'emulator', platform: 'android', deviceName: 'Pixel 7', appiumUrl: 'http://127.0.0.1:4723', capabilities: { 'appium:udid': 'emulator-5554' } },
      { slotId: 'iphone', target: 'device', platform: 'ios', deviceName: 'iPhone 15', appiumUrl: 'http://127.0.0.1:4723' },
    ],
  });
});

test('the shipped examples/lab.json loads and points at the example project and fake app', async () => {
  const c = await loadAgentConfig(join(repoRoot, 'examples/lab.json'));
  assert.is(c.projectDir, resolve(repoRoot, 'examples/appwright-project'));
  assert.is(c.apps?.['*'], resolve(repoRoot, 'examples/appwright-project/app/fake-app.xml'));
  assert.ok(existsSync(c.apps!['*']), 'the fake app exists');
  assert.is(c.slots?.length, 1);
  assert.equal(c.slots![0].capabilities, { platformName: 'Fake', 'appium:automationName': 'Fake' });
  assert.is(c.slots![0].appiumUrl, 'http://127.0.0.1:4723');
});

test('a bad field gives one clear line naming the file and the field', async () => {
  const file = await writeConfig('bad-target.json', { slots: [slot(), slot({ id: 'b', target: 'phone' })] });
  const err = await rejects(() => loadAgentConfig(file));
  assert.match(err.message, /bad-target\.json: slots\[1\]\.target must be one of emulator, device, browserstack$/);
  assert.equal(Object.keys(err.fields ?? {}), ['slots[1].target']);
});

test('a missing field, a misspelt field, a bad URL and duplicate slot ids are each named', async () => {
  const missing = await rejects(async () => loadAgentConfig(await writeConfig('m.json', { slots: [slot({ appium_url: undefined })] })));
  assert.match(missing.message, /slots\[0\]\.appium_url is required/);

  const typo = await rejects(async () => loadAgentConfig(await writeConfig('t.json', { projet: 'x', slots: [slot()] })));
  assert.match(typo.message, /projet is not a known field/);

  const url = await rejects(async () => loadAgentConfig(await writeConfig('u.json', { slots: [slot({ appium_url: 'localhost:4723' })] })));
  assert.match(url.message, /slots\[0\]\.appium_url must be an http\(s\) URL/);

  const dup = await rejects(async () => loadAgentConfig(await writeConfig('d.json', { slots: [slot(), slot()] })));
  assert.match(dup.message, /slots\[1\]\.id "pixel-7" is used by two slots/);

  const none = await rejects(async () => loadAgentConfig(await writeConfig('n.json', { project: 'x' })));
  assert.match(none.message, /slots is required/);

  const several = await rejects(async () => loadAgentConfig(await writeConfig('s.json', { slots: [slot({ target: 'x', platform: 'y' })] })));
  assert.match(several.message, /\(and 1 more\)$/);
  assert.is(Object.keys(several.fields ?? {}).length, 2);
});

test('an unreadable or non-JSON file is a clear error', async () => {
  const gone = await rejects(() => loadAgentConfig(join(dir, 'nope.json')));
  assert.match(gone.message, /cannot read the agent config .*nope\.json: no such file/);
  const junk = await rejects(async () => loadAgentConfig(await writeConfig('junk.json', '{ "slots": [ ')));
  assert.match(junk.message, /junk\.json is not valid JSON/);
});

test('flags alone describe one device, with defaults; --app means apps = {"*": file}', () => {
  const o = agentOptionsFromFlags({ url: 'http://127.0.0.1:8080', project: 'examples/appwright-project', app: 'app.xml', target: 'emulator', appiumUrl: 'http://127.0.0.1:4723' });
  assert.equal(o, {
    url: 'http://127.0.0.1:8080',
    projectDir: resolve('examples/appwright-project'),
    apps: { '*': resolve('app.xml') },
    slots: [{ slotId: 'emulator-android', target: 'emulator', platform: 'android', deviceName: 'android emulator', appiumUrl: 'http://127.0.0.1:4723' }],
  });
  const full = agentOptionsFromFlags({
    url: 'http://127.0.0.1:8080',
    project: '/p',
    target: 'device',
    platform: 'ios',
    deviceName: 'iPhone 15',
    appiumUrl: 'http://127.0.0.1:4724',
    capabilities: '{"appium:udid":"0000-1111"}',
    slotId: 'iphone-a',
    agentId: 'a1',
    name: 'mac-mini',
    workDir: '/tmp/w',
  });
  assert.equal(full.slots, [{ slotId: 'iphone-a', target: 'device', platform: 'ios', deviceName: 'iPhone 15', appiumUrl: 'http://127.0.0.1:4724', capabilities: { 'appium:udid': '0000-1111' } }]);
  assert.is(full.agentId, 'a1');
  assert.is(full.name, 'mac-mini');
  assert.is(full.workDir, '/tmp/w');
  assert.equal(full.apps, {});
});

test('flags override the file: url, project, apps, and the fields of its one slot', async () => {
  const file = await writeConfig('one.json', { url: 'http://file:8080', project: 'specs', apps: { '*': 'a.apk' }, slots: [slot({ capabilities: { x: 1 } })] });
  const c = await loadAgentConfig(file);
  const fromFile = agentOptionsFromFlags({}, c);
  assert.is(fromFile.url, 'http://file:8080');
  assert.is(fromFile.projectDir, join(dir, 'specs'));
  assert.equal(fromFile.slots, c.slots);

  const o = agentOptionsFromFlags({ url: 'http://flag:9090', project: '/other', app: '/b.apk', appiumUrl: 'http://127.0.0.1:4999' }, c);
  assert.is(o.url, 'http://flag:9090');
  assert.is(o.projectDir, '/other');
  assert.equal(o.apps, { '*': '/b.apk' });
  assert.equal(o.slots, [{ slotId: 'pixel-7', target: 'emulator', platform: 'android', deviceName: 'Pixel 7', appiumUrl: 'http://127.0.0.1:4999', capabilities: { x: 1 } }]);
});

test('a missing url, project or slot, or bad slot flags, are usage errors naming the flag', async () => {
  const noUrl = await rejects(() => agentOptionsFromFlags({ project: '/p', target: 'emulator', appiumUrl: 'http://127.0.0.1:4723' }));
  assert.match(noUrl.message, /--url/);
  const noProject = await rejects(() => agentOptionsFromFlags({ url: 'http://127.0.0.1:8080', target: 'emulator', appiumUrl: 'http://127.0.0.1:4723' }));
  assert.match(noProject.message, /--project/);
  const noSlot = await rejects(() => agentOptionsFromFlags({ url: 'http://127.0.0.1:8080', project: '/p' }));
  assert.match(noSlot.message, /missing a device slot/);
  const noTarget = await rejects(() => agentOptionsFromFlags({ url: 'http://127.0.0.1:8080', project: '/p', appiumUrl: 'http://127.0.0.1:4723' }));
  assert.match(noTarget.message, /--target is required/);
  const badTarget = await rejects(() => agentOptionsFromFlags({ url: 'http://127.0.0.1:8080', project: '/p', target: 'phone', appiumUrl: 'http://127.0.0.1:4723' }));
  assert.match(badTarget.message, /^--target must be one of emulator, device, browserstack$/);
  const noAppium = await rejects(() => agentOptionsFromFlags({ url: 'http://127.0.0.1:8080', project: '/p', target: 'emulator' }));
  assert.match(noAppium.message, /^--appium-url is required$/);
  const badCaps = await rejects(() => agentOptionsFromFlags({ url: 'http://127.0.0.1:8080', project: '/p', target: 'emulator', appiumUrl: 'http://127.0.0.1:4723', capabilities: '{nope' }));
  assert.match(badCaps.message, /--capabilities must be a JSON object/);
  const arrayCaps = await rejects(() => agentOptionsFromFlags({ url: 'http://127.0.0.1:8080', project: '/p', target: 'emulator', appiumUrl: 'http://127.0.0.1:4723', capabilities: '[1]' }));
  assert.match(arrayCaps.message, /--capabilities must be a JSON object of capabilities/);
  const badUrl = await rejects(() => agentOptionsFromFlags({ url: 'ftp://x', project: '/p', target: 'emulator', appiumUrl: 'http://127.0.0.1:4723' }));
  assert.match(badUrl.message, /--url must be an http\(s\) URL/);

  const two = await loadAgentConfig(await writeConfig('two.json', { project: 'p', slots: [slot(), slot({ id: 'b' })] }));
  const clash = await rejects(() => agentOptionsFromFlags({ url: 'http://127.0.0.1:8080', target: 'emulator' }, two));
  assert.match(clash.message, /config file lists 2 slots/);
});

test.run();
