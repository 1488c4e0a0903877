/**
 * Loads the decision-time benchmark on the JavaScript that ships: the scheduler room, the fleet and
 * the benchmark transpiled with TypeScript (as `npm run build` does), into a temporary folder, then
 * imported without tsx's on-the-fly transform (whose keep-names wrappers, measured here, add several
 * milliseconds to the p99 of a round). The folder is removed afterwards.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import type { decisionTime as DecisionTimeFn } from './decision-time.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function withCompiledDecisionTime<T>(run: (decisionTime: typeof DecisionTimeFn) => T): Promise<T> {
  const out = mkdtempSync(join(tmpdir(), 'qgjob-bench-'));
  try {
    const files = [
      ...readdirSync(join(root, 'coordinator/scheduler')).filter((f) => f.endsWith('.ts')).map((f) => `coordinator/scheduler/${f}`),
      'coordinator/agents/fleet.ts',
      'bench/scheduler/decision-time.ts',
      'bench/scheduler/rng.ts',
    ];
    for (const rel of files) {
      const js = ts.transpileModule(readFileSync(join(root, rel), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
        fileName: rel,
      }).outputText;
      const dest = join(out, rel.replace(/\.ts$/, '.js'));
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(dest, js);
    }
    writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
    const mod = (await import(pathToFileURL(join(out, 'bench/scheduler/decision-time.js')).href)) as { decisionTime: typeof DecisionTimeFn };
    return run(mod.decisionTime);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
