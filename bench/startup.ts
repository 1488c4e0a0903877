/**
 * `qgjob --help` start-up time (`npm run bench:startup`): the compiled CLI users run
 * (`node bin/qgjob.js --help`), N runs after warm-ups, p50/p95. Uses hyperfine when installed,
 * else times spawns itself.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchOptions, type BenchResult, isMain, main, msSince, nowNs, percentile, qgjobBin, round, size, tempDir } from './lib/common.js';

const hasHyperfine = (): boolean => {
  try {
    execFileSync('hyperfine', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const runs = size(opts, 'startup_runs', 30, 3);
  const cmd = [process.execPath, qgjobBin, '--help'];
  let times: number[];
  let tool: string;
  const check = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  if (check.status !== 0 || !/Usage|usage/.test(check.stdout + check.stderr)) throw new Error(`qgjob --help failed (exit ${check.status}): ${check.stderr}`);
  if (hasHyperfine()) {
    tool = 'hyperfine';
    const out = join(tempDir('startup'), 'hyperfine.json');
    execFileSync('hyperfine', ['--warmup', '3', '--runs', String(runs), '--export-json', out, '--style', 'none', '-N', cmd.map((c) => JSON.stringify(c)).join(' ')], { stdio: 'ignore' });
    times = (JSON.parse(readFileSync(out, 'utf8')) as { results: Array<{ times: number[] }> }).results[0]!.times.map((s) => s * 1000);
  } else {
    tool = 'spawnSync';
    for (let i = 0; i < 3; i++) spawnSync(cmd[0]!, cmd.slice(1));
    times = [];
    for (let i = 0; i < runs; i++) {
      const t0 = nowNs();
      spawnSync(cmd[0]!, cmd.slice(1));
      times.push(msSince(t0));
    }
  }
  const bare: number[] = [];
  for (let i = 0; i < Math.min(runs, 10); i++) {
    const t0 = nowNs();
    spawnSync(process.execPath, ['-e', '0']);
    bare.push(msSince(t0));
  }
  return {
    bench: 'startup',
    rows: [
      { command: 'node bin/qgjob.js --help', runs, p50_ms: round(percentile(times, 50)), p95_ms: round(percentile(times, 95)), min_ms: round(Math.min(...times)), tool },
      { command: 'node -e 0 (Node itself, for reference)', runs: bare.length, p50_ms: round(percentile(bare, 50)), p95_ms: round(percentile(bare, 95)), min_ms: round(Math.min(...bare)), tool: 'spawnSync' },
    ],
  };
}

if (isMain(import.meta.url)) await main(run);
