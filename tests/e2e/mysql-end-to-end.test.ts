/** The end-to-end scenarios on MySQL; they run when QGJOB_TEST_MYSQL_URL is set (CI always sets it). */
import { test } from 'uvu';
import { type AppiumServer, startAppium } from '../helpers/appium.js';
import { freshMysqlDatabase } from '../helpers/processes.js';
import { type Env, keepsQueuedJobsAcrossRestart, runsSpecsAndGroupsInstalls, stopAll } from './scenarios.js';

const enabled = Boolean(process.env.QGJOB_TEST_MYSQL_URL);
let appium: AppiumServer;
let drop: () => Promise<void> = async () => {};
const env: Env = { appiumUrl: '', procs: [] };

if (!enabled) console.log('  (mysql end-to-end: skipped: QGJOB_TEST_MYSQL_URL is not set, e.g. mysql://root@127.0.0.1:3306/test)');
const t = enabled ? test : test.skip;

test.before(async () => {
  if (!enabled) return;
  const db = await freshMysqlDatabase('e2e');
  if ('skip' in db) throw new Error(db.skip);
  env.database = db.url;
  drop = db.drop;
  appium = await startAppium();
  env.appiumUrl = appium.url;
});
test.after.each(() => stopAll(env));
test.after(async () => {
  await appium?.stop();
  await drop();
});

t('MySQL: passing and failing specs, live watch, one install per build', () => runsSpecsAndGroupsInstalls(env));
t('MySQL: queued jobs survive a coordinator SIGKILL', () => keepsQueuedJobsAcrossRestart(env));

test.run();
