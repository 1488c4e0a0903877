/**
 * Loaded by the generated wrapper config in Playwright's runner and in every worker (Playwright
 * re-loads the config in each worker). It makes appwright's `device` fixture ATTACH to the
 * session the qgjob agent owns, instead of starting Appium / creating a session per test:
 *
 * - appwright's fixture calls `createDeviceProvider(project)` through the exports object of
 *   `appwright/dist/providers`, at call time; replacing that export is enough. The patch is lazy
 *   (a `Module._load` hook) so nothing extra is loaded before appwright itself is.
 * - `device.close()` is a no-op: the fixture would otherwise delete the agent's session after
 *   every test. `globalSetup` and `downloadVideo` are no-ops: the agent owns the device and app.
 * - a dead session is reported at once as "qg: device session … is not usable", because
 *   appwright's locators swallow WebDriver errors and would report "Element was not found on
 *   the screen" only after the whole expectTimeout.
 *
 * Input comes from env, set by agent/runner/appwright-runner.ts: QG_PROJECT_DIR, QG_APPIUM_URL,
 * QG_SESSION_ID, QG_CAPS (JSON), QG_PLATFORM (android|ios), optional QG_BUNDLE_ID.
 * CommonJS on purpose: appwright is CommonJS and is patched through the CommonJS loader.
 */
'use strict';
const Module = require('node:module');
const path = require('node:path');

const PROVIDER = 'qgjob';

/**
 * Orphan guard. Playwright runs in its own process group (so an abort can stop the whole group),
 * which also means it would outlive an agent killed with SIGKILL. In the runner process (whose
 * parent is the agent, QG_AGENT_PID), a cheap timer notices the parent is gone and ends the group.
 */
(function orphanGuard() {
  const agentPid = Number(process.env.QG_AGENT_PID);
  if (!agentPid || process.ppid !== agentPid) return; // a worker, or not run by the agent
  setInterval(() => {
    if (process.ppid !== agentPid) {
      try {
        process.kill(-process.pid, 'SIGKILL');
      } catch {
        process.exit(1);
      }
    }
  }, 500).unref();
})();

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`qg: ${name} is not set; this config must be run by the qgjob agent`);
  return v;
}

/** `require` as seen from the user's project, so appwright and webdriver are the project's copies. */
function projectRequire() {
  return Module.createRequire(path.join(env('QG_PROJECT_DIR'), 'package.json'));
}

/** appwright's `webdriver` dependency, resolved next to appwright (hoisted or nested). */
function loadWebDriver() {
  const appwrightMain = projectRequire().resolve('appwright');
  return Module.createRequire(appwrightMain)('webdriver');
}

let clientPromise = null; // one attach per process; every test in this worker shares it

class QgProvider {
  constructor(project) {
    this.project = project;
  }
  async globalSetup() {}
  async getDevice() {
    const sessionId = env('QG_SESSION_ID');
    const appiumUrl = env('QG_APPIUM_URL');
    const platform = env('QG_PLATFORM');
    if (!clientPromise) {
      const url = new URL(appiumUrl);
      const protocol = url.protocol.replace(':', '');
      const WebDriver = loadWebDriver();
      clientPromise = WebDriver.attachToSession({
        sessionId,
        protocol,
        hostname: url.hostname,
        port: url.port ? Number(url.port) : protocol === 'https' ? 443 : 80,
        path: url.pathname || '/',
        capabilities: JSON.parse(process.env.QG_CAPS || '{}'),
        // webdriver guesses the platform from the capabilities (a fake or cloud device says
        // neither); appwright's Device picks its locator strategies from `isAndroid`.
        isAndroid: platform === 'android',
        isIOS: platform === 'ios',
        isMobile: true,
        logLevel: process.env.WDIO_LOG_LEVEL || 'error',
      });
    }
    const client = await clientPromise;
    try {
      await client.getTimeouts();
    } catch (err) {
      throw new Error(
        `qg: device session ${sessionId} on ${appiumUrl} is not usable: ${(err && err.message) || err}`,
      );
    }
    const { Device } = projectRequire()('appwright');
    const expectTimeout = (this.project.use && this.project.use.expectTimeout) || 5000;
    const device = new Device(client, process.env.QG_BUNDLE_ID || undefined, { expectTimeout }, PROVIDER);
    device.close = async () => {};
    return device;
  }
  async syncTestDetails() {}
  async downloadVideo() {
    return null;
  }
}

function patch(exp) {
  if (!exp || typeof exp.createDeviceProvider !== 'function' || exp.__qgPatched) return;
  const original = exp.createDeviceProvider;
  exp.createDeviceProvider = (project) =>
    project && project.use && project.use.device && project.use.device.provider === PROVIDER
      ? new QgProvider(project)
      : original(project);
  Object.defineProperty(exp, '__qgPatched', { value: true });
}

if (!globalThis.__qgProviderHook) {
  globalThis.__qgProviderHook = true;
  const appwrightDist = /[\\/]appwright[\\/]dist[\\/]/;
  const originalLoad = Module._load;
  Module._load = function qgLoad(request, parent) {
    const exp = originalLoad.apply(this, arguments);
    if (parent && appwrightDist.test(parent.filename || '')) patch(exp);
    return exp;
  };
  // If appwright was loaded before this file (a config that imports it first), patch it in place.
  if (process.env.QG_PROJECT_DIR) {
    try {
      const providers = path.join(path.dirname(projectRequire().resolve('appwright')), 'providers', 'index.js');
      if (require.cache[providers]) patch(require.cache[providers].exports);
    } catch {
      // appwright not installed in the project: the spec will fail to import it, with Node's own message.
    }
  }
}

/**
 * Builds the config Playwright runs from the user's appwright config: one project (the one for
 * the session's platform), one worker (one device session), no appwright globalSetup, and our
 * reporters. Paths the user wrote relative to their config are made absolute against their
 * project, because this wrapper lives in the attempt's work dir.
 */
function wrapConfig(userModule, opts) {
  // An ES module namespace has the config as `default`; a TypeScript config compiled to CommonJS
  // (a project without "type": "module") arrives as { default: { __esModule, default: config } }.
  let user = userModule || {};
  if (user.default) user = user.default;
  if (user.__esModule && user.default) user = user.default;
  const abs = (p) => (p === undefined ? undefined : path.resolve(opts.projectDir, p));
  const projects = Array.isArray(user.projects) && user.projects.length ? user.projects : [{ name: opts.platform, use: {} }];
  const chosen =
    projects.find((p) => p.name === opts.platform) ||
    projects.find((p) => p.use && p.use.platform === opts.platform) ||
    projects[0];
  const testDir = abs(chosen.testDir ?? user.testDir ?? '.');
  const project = {
    ...chosen,
    testDir,
    outputDir: path.join(opts.workDir, 'test-results'),
    snapshotDir: chosen.snapshotDir === undefined ? undefined : abs(chosen.snapshotDir),
    retries: 0,
    dependencies: undefined,
    teardown: undefined,
    use: { ...user.use, ...chosen.use, device: { ...(chosen.use && chosen.use.device), provider: PROVIDER } },
  };
  return {
    ...user,
    testDir,
    snapshotDir: user.snapshotDir === undefined ? undefined : abs(user.snapshotDir),
    outputDir: path.join(opts.workDir, 'test-results'),
    globalSetup: undefined,
    globalTeardown: undefined,
    webServer: undefined,
    workers: 1,
    fullyParallel: false,
    retries: 0,
    repeatEach: 1,
    shard: undefined,
    reporter: [[opts.lineReporter], ['json', { outputFile: opts.jsonReport }]],
    projects: [project],
  };
}

module.exports = { wrapConfig, QgProvider, PROVIDER };
