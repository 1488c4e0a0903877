#!/usr/bin/env node
// Installs the example AppWright project's own dependencies (appwright + @playwright/test, pinned in
// its package-lock.json), as a user's separate test repository would have them. Runs from `prepare`,
// so `npm ci` / `npm install` at the root set up everything. Skipped when already up to date, or
// with QGJOB_SKIP_EXAMPLES=1.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../examples/appwright-project/', import.meta.url));
const lock = `${dir}package-lock.json`;
const installed = `${dir}node_modules/.package-lock.json`;
if (process.env.QGJOB_SKIP_EXAMPLES === '1') process.exit(0);
if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) {
  console.log('examples/appwright-project: dependencies up to date');
  process.exit(0);
}
console.log('examples/appwright-project: installing its dependencies (npm ci)…');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const r = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
process.exit(r.status ?? 1);
