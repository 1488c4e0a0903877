#!/usr/bin/env node
// The `qgjob` command: runs the compiled CLI (`npm run build` writes dist/).
let runCli;
try {
  ({ runCli } = await import('../dist/cli/main.js'));
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist')) throw err;
  process.stderr.write('qgjob: the CLI is not built: run `npm run build` in the qgjob folder\n');
  process.exit(3);
}

const code = await runCli(process.argv);
process.exitCode = code;
// Let stdout/stderr drain, but do not wait on anything a library left open (keep-alive sockets, timers).
setTimeout(() => process.exit(code), 1000).unref();
