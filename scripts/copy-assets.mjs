#!/usr/bin/env node
// Part of `npm run build`: tsc compiles .ts only; the agent's Playwright hooks are plain CommonJS
// files loaded by path at run time, so they are copied next to the compiled runner; the dashboard's
// static page (HTML, CSS, browser JavaScript) is copied next to the compiled coordinator.
import { cpSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
for (const dir of ['agent/runner']) {
  for (const f of readdirSync(`${root}${dir}`)) {
    if (f.endsWith('.cjs')) cpSync(`${root}${dir}/${f}`, `${root}dist/${dir}/${f}`);
  }
}
cpSync(`${root}coordinator/dashboard/public`, `${root}dist/coordinator/dashboard/public`, { recursive: true });
