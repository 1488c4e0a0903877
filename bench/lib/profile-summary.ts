/**
 * Reads a V8 CPU profile (`node --cpu-prof`, as `--cpu-prof <dir>` makes the benchmarks' coordinator
 * write) and prints where the time went: self time by function and by package, top N.
 * Usage: `node --import tsx bench/lib/profile-summary.ts <file.cpuprofile> [N]`.
 */
import { readFileSync } from 'node:fs';
import { isMain, printTable, round } from './common.js';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Self time (µs) per function and per package / area. */
export function summarize(file: string, top = 25): { functions: Array<Record<string, string | number>>; areas: Array<Record<string, string | number>>; totalMs: number; idlePct: number } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id)!.callFrame;
    const name = cf.functionName || '(anonymous)';
    if (name === '(idle)') idle += us;
    const where = cf.url.replace(/^file:\/\//, '');
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where)?.[1];
    const own = /\/dist\/(.+)$/.exec(where)?.[1];
    const a = pkg ?? (own ? `qgjob ${own.split('/').slice(0, 2).join('/')}` : where.startsWith('node:') ? where : name.startsWith('(') || where ? name : `(native) ${name}`);
    const shortWhere = pkg ? `${pkg}/…/${where.split('/').pop()}` : own ?? where;
    const key = `${name} ${shortWhere}:${cf.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    area.set(a, (area.get(a) ?? 0) + us);
  }
  const rows = (m: Map<string, number>, col: string) =>
    [...m.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, top)
      .map(([k, us]) => ({ [col]: k, self_ms: round(us / 1000), pct: round((us / total) * 100), pct_busy: round((us / Math.max(1, total - idle)) * 100) }));
  return { functions: rows(fn, 'function'), areas: rows(area, 'area'), totalMs: total / 1000, idlePct: (idle / total) * 100 };
}

if (isMain(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: profile-summary <file.cpuprofile> [N]');
    process.exit(2);
  }
  const s = summarize(file, Number(process.argv[3] ?? 25));
  console.log(`${file}: ${round(s.totalMs)} ms sampled, ${round(s.idlePct)} % idle`);
  printTable(s.areas);
  printTable(s.functions);
}
