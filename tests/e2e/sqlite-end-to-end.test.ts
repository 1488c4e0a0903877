import { test } from 'uvu';
import { type AppiumServer, startAppium } from '../helpers/appium.js';
import { type Env, keepsQueuedJobsAcrossRestart, runsSpecsAndGroupsInstalls, stopAll } from './scenarios.js';

let appium: AppiumServer;
const env: Env = { appiumUrl: '', procs: [] };

test.before(async () => {
  appium = await startAppium();
  env.appiumUrl = appium.url;
});
test.after.each(() => stopAll(env));
test.after(() => appium.stop());

test('SQLite: passing and failing specs, live watch, one install per build', () => runsSpecsAndGroupsInstalls(env));
test('SQLite: queued jobs survive a coordinator SIGKILL', () => keepsQueuedJobsAcrossRestart(env));

test.run();
