/**
 * Session videos recorded by agents (device-lab screen recordings). The agent uploads the file of
 * its current attempt; the coordinator keeps it in a local folder (configurable) and serves it at
 * a stable URL, `/videos/<job_id>.<ext>`, which goes into `video_results`. With API tokens the
 * stored URL is signed (`?sig=`, see ../auth/links.ts) and `videoAccess` (./auth.ts) guards the files.
 */
import { createReadStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { QgError } from '../../shared/index.js';
import type { JobService } from '../jobs/job-service.js';
import type { LinkSigner } from '../auth/links.js';

/** Video formats qgjob stores, by content type. */
const TYPES: Record<string, string> = { 'video/mp4': 'mp4', 'video/webm': 'webm', 'image/png': 'png', 'image/gif': 'gif' };
const BY_EXT = Object.fromEntries(Object.entries(TYPES).map(([t, e]) => [e, t]));

export interface VideoRoutesDeps {
  service: JobService;
  /** Folder the files live in. */
  dir: string;
  /** Base URL the stored URLs start with; default: the origin the upload came to. */
  publicUrl?: string;
  /** Largest upload (bytes). */
  maxBytes: number;
  /** With tokens configured: signs the stored URL (`?sig=`), so it opens in a browser (see ../auth/links.ts). */
  signer?: LinkSigner;
}

export function videoRoutes(deps: VideoRoutesDeps): { api: Hono; files: Hono } {
  const api = new Hono();
  const files = new Hono();

  // PUT /api/v1/jobs/:id/video?attempt_id=… with the raw file as the body and its Content-Type.
  api.put('/jobs/:id/video', async (c) => {
    const jobId = c.req.param('id');
    const attemptId = c.req.query('attempt_id');
    const job = deps.service.active(jobId);
    if (!job) throw new QgError('job_not_found', `no running job with id ${jobId}`);
    if (!attemptId || job.attemptId !== attemptId) throw new QgError('stale_attempt', `attempt ${attemptId ?? '(none)'} is not the job's current attempt`);
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const ext = TYPES[type];
    if (!ext) throw new QgError('validation_failed', `unsupported video type "${type}"; send one of ${Object.keys(TYPES).join(', ')}`, { 'content-type': 'unsupported' });
    const declared = Number(c.req.header('content-length') ?? NaN);
    if (declared > deps.maxBytes) throw new QgError('payload_too_large', `the video is over ${deps.maxBytes} bytes`);
    const body = c.req.raw.body;
    if (!body) throw new QgError('validation_failed', 'the request has no body');
    await mkdir(deps.dir, { recursive: true });
    const name = `${jobId}.${ext}`;
    const tmp = join(deps.dir, `.${name}.${randomUUID()}.part`);
    let size = 0;
    try {
      const fh = await open(tmp, 'w');
      try {
        for await (const chunk of Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>)) {
          size += (chunk as Buffer).length;
          if (size > deps.maxBytes) throw new QgError('payload_too_large', `the video is over ${deps.maxBytes} bytes`);
          await fh.write(chunk as Buffer);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      // The attempt may have been lost while it uploaded: a stale video must not replace a newer one.
      if (deps.service.active(jobId)?.attemptId !== attemptId) throw new QgError('stale_attempt', `attempt ${attemptId} is no longer the job's current attempt`);
      await rename(tmp, join(deps.dir, name));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const base = (deps.publicUrl ?? new URL(c.req.url).origin).replace(/\/+$/, '');
    const path = `/videos/${name}`;
    const url = `${base}${path}${deps.signer ? `?sig=${deps.signer.sign(path)}` : ''}`;
    return c.json({ url, size_bytes: size, content_type: type }, 201);
  });

  files.get('/:file', async (c) => {
    const file = c.req.param('file');
    const m = /^(job_[0-9A-Z]{26})\.([a-z0-9]+)$/.exec(file);
    const type = m ? BY_EXT[m[2]!] : undefined;
    if (!m || !type) throw new QgError('not_found', `no video ${file}`);
    const path = join(deps.dir, file);
    const st = await stat(path).catch(() => null);
    if (!st) throw new QgError('not_found', `no video ${file}`);
    return new Response(Readable.toWeb(createReadStream(path)) as ReadableStream, {
      headers: { 'content-type': type, 'content-length': String(st.size), 'cache-control': 'private, max-age=3600' },
    });
  });
  return { api, files };
}
