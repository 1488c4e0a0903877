#!/usr/bin/env node
// Runs the uvu suite through tsx and closes with the plain line CI reads: "N passed, N failed, N skipped".
// uvu prints Total/Passed/Skipped but no failed count (failed = Total - Passed; Total excludes skipped).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../node_modules/uvu/bin.js', import.meta.url)); // uvu's exports map hides bin.js
// Test artifacts (e.g. the dashboard's screenshot) are written to tests/artifacts/: never load them as tests.
const args = ['--import', 'tsx', bin, process.argv[2] ?? 'tests', ...process.argv.slice(3), '--ignore', '(^|/)artifacts$'];
const child = spawn(process.execPath, args, { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
// A hung test must not hold CI for its whole time limit: stop the run after QGJOB_TEST_TIMEOUT_S.
const limitS = Number(process.env.QGJOB_TEST_TIMEOUT_S ?? 1200);
const watchdog = setTimeout(() => {
  console.error(`\ntest run exceeded ${limitS} s: stopping it`);
  child.kill('SIGKILL');
}, limitS * 1000);
watchdog.unref();
let out = '';
child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
child.on('close', (code) => {
  const n = (k) => Number((out.match(new RegExp(`^\\s*${k}:\\s+(\\d+)`, 'm')) ?? [])[1] ?? NaN);
  const total = n('Total'), passed = n('Passed'), skipped = n('Skipped');
  if (Number.isNaN(total)) { console.log('0 passed, 1 failed'); process.exit(code || 1); }
  const failed = total - passed;
  console.log(`${passed} passed, ${failed} failed, ${Number.isNaN(skipped) ? 0 : skipped} skipped`);
  process.exit(failed > 0 ? 1 : (code ?? 0));
});
