/**
 * A lean HTTP client for submitting jobs in benchmarks: `node:http` with keep-alive sockets
 * (cheaper per request than fetch, so the load generator takes less CPU from the coordinator),
 * open-loop pacing for latency runs and a fixed number of requests in flight for throughput runs.
 */
import { Agent, request } from 'node:http';
import { nowNs } from './common.js';

export interface Submitted {
  jobId: string;
  /** When the request was sent and when its 201 arrived (monotonic ns). */
  sentNs: bigint;
  acceptedNs: bigint;
}

/** A valid job spec for benchmarks; `i` spreads jobs over `versions` app versions. */
export function benchSpec(i: number, versions = 1): Record<string, unknown> {
  return { org_id: 'bench', app_version_id: `bench-v${i % versions}`, test_path: 'tests/noop.spec.js', target: 'emulator', platform: 'android' };
}

export class Submitter {
  readonly #agent: Agent;
  readonly #url: URL;
  /** Requests sent again after the server reset their connection before reading them. */
  resets = 0;

  constructor(baseUrl: string, sockets = 64) {
    this.#agent = new Agent({ keepAlive: true, maxSockets: sockets });
    this.#url = new URL('/api/v1/jobs', baseUrl);
  }

  close(): void {
    this.#agent.destroy();
  }

  /** POSTs one spec; rejects unless the answer is 201. */
  submit(spec: Record<string, unknown>, sentNs = nowNs(), attempt = 0): Promise<Submitted> {
    const body = JSON.stringify(spec);
    return new Promise((resolve, reject) => {
      const req = request(
        this.#url,
        { method: 'POST', agent: this.#agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const acceptedNs = nowNs();
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode !== 201) return reject(new Error(`submit answered ${res.statusCode}: ${text.slice(0, 500)}`));
            resolve({ jobId: (JSON.parse(text) as { job_id: string }).job_id, sentNs, acceptedNs });
          });
          res.on('error', reject);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        // The server closed a keep-alive socket it thought idle while this request was on its way
        // (it resets a socket closed with unread data; seen when its event loop stalls for seconds):
        // the request was never read, so it is sent again, and counted.
        if (err.code === 'ECONNRESET' && attempt < 5) {
          this.resets++;
          this.submit(spec, sentNs, attempt + 1).then(resolve, reject);
        } else reject(err);
      });
      req.end(body);
    });
  }

  /** Submits `n` specs with `concurrency` requests in flight; resolves with them in submit order. */
  async many(n: number, concurrency: number, spec: (i: number) => Record<string, unknown>): Promise<Submitted[]> {
    const out: Submitted[] = new Array(n);
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        out[i] = await this.submit(spec(i));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
    return out;
  }

  /** Open loop: starts one submit every `everyMs` (not waiting for answers) until `n`; resolves when all answered. */
  async paced(n: number, everyMs: number, spec: (i: number) => Record<string, unknown>): Promise<Submitted[]> {
    const t0 = performance.now();
    const pending: Array<Promise<Submitted>> = [];
    let failure: Error | null = null;
    for (let i = 0; i < n && !failure; i++) {
      const due = t0 + i * everyMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const p = this.submit(spec(i));
      p.catch((err: Error) => (failure ??= err)); // handled now, not only once the loop is over
      pending.push(p);
    }
    return Promise.all(pending);
  }
}
