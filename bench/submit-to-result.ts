/**
 * `npm run bench:e2e`: how long a real job takes from submit to result, and where the time goes.
 * Starts a real Appium (fake driver), `qgjob coordinator` (SQLite, or MySQL with
 * QGJOB_BENCH_MYSQL_URL) and `qgjob agent`, then runs the example passing spec N times (default 5,
 * `--runs N`) one after another through `qgjob submit --wait`, and prints a table and JSON.
 * The first run installs the build; the others reuse the device session.
 */
import { startAppium } from '../tests/helpers/appium.js';
import { runQgjob, startAgentProc, startCoordinatorProc, tempDir } from '../tests/helpers/processes.js';
import type { JobView } from '../shared/index.js';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 5) || 5;
const ms = (a: string | null, b: string | null) => (a && b ? Date.parse(b) - Date.parse(a) : NaN);

const appium = await startAppium();
const database = process.env.QGJOB_BENCH_MYSQL_URL;
const c = await startCoordinatorProc({ dataDir: tempDir('bench'), ...(database ? { database } : {}) });
const agent = await startAgentProc({ url: c.url, appiumUrl: appium.url });
const rows: Array<Record<string, number | string | boolean | null>> = [];
try {
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await runQgjob(['submit', '--url', c.url, '--org-id', 'bench', '--app-version-id', 'bench-v1', '--test', 'tests/onboarding.spec.js', '--target', 'emulator', '--wait', '--json']);
    const wall = performance.now() - t0;
    if (r.code !== 0) throw new Error(`run ${i + 1} did not pass (exit ${r.code}):\n${r.stderr}`);
    const job = JSON.parse(r.stdout) as JobView;
    rows.push({
      run: i + 1,
      installed_build: job.installed_build,
      cli_wall_ms: Math.round(wall),
      submit_to_assign_ms: ms(job.created_at, job.assigned_at),
      assign_to_start_ms: ms(job.assigned_at, job.started_at),
      start_to_result_ms: ms(job.started_at, job.finished_at),
      submit_to_result_ms: ms(job.created_at, job.finished_at),
    });
  }
} finally {
  await agent.stop();
  await c.proc.stop();
  await appium.stop();
}
console.log(`submit → result, ${database ? 'MySQL' : 'SQLite'}, ${runs} runs of tests/onboarding.spec.js (one slot, Appium fake driver)`);
console.table(rows);
console.log(JSON.stringify({ bench: 'submit-to-result', database: database ? 'mysql' : 'sqlite', rows }));
