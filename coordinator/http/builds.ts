/**
 * The build registry's HTTP API, mounted under `/api/v1`:
 *
 * - `POST /apps`: a `multipart/form-data` upload (`app_version_id`, `platform`, `file`) or a JSON
 *   registration of a URL (`{app_version_id, platform, url, file_name?, sha256?}`). 201 with the
 *   build when the version got one (`created`, `replaced`), 200 when it already had exactly these
 *   bytes (`unchanged`). The bytes are on disk (fsynced) and the row committed before the answer.
 * - `GET /apps/:app_version_id`: the build.
 * - `GET /apps/:app_version_id/download[?sha256=…]`: the bytes, or a 302 to a registered URL.
 *   With `sha256`, only while the version still has that build (agents always pass it).
 *
 * Errors go through the app's one `onError`: validation_failed (400, with fields), invalid_json,
 * payload_too_large (413: over QGJOB_MAX_BUILD_BYTES), build_not_found (404).
 */
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import {
  type AppBuildView,
  type AppUploadReply,
  AppUploadFields,
  AppUrlRegistration,
  BuildFileName,
  QgError,
  Sha256,
} from '../../shared/index.js';
import { type BlobWriter, type BuildRegistry, type Registered, downloadPath } from '../builds/index.js';
import { validate } from './validate.js';
import type { AppBuildRow } from '../store/index.js';
import { boundaryOf, readMultipart } from './multipart.js';

/** Room for the multipart framing and the text fields around the file. */
const MULTIPART_SLACK_BYTES = 64 * 1024;
/** Bound on a JSON registration and on each text field of an upload. */
const MAX_JSON_BYTES = 64 * 1024;
const MAX_FIELD_BYTES = 1024;
const FIELD_NAMES = new Set(['app_version_id', 'platform']);


export function toBuildView(row: AppBuildRow, origin: string): AppBuildView {
  return {
    app_version_id: row.appVersionId,
    platform: row.platform as AppBuildView['platform'],
    sha256: row.sha256,
    size_bytes: Number(row.sizeBytes),
    file_name: row.fileName,
    source: row.source as AppBuildView['source'],
    url: row.url,
    download_url: origin + downloadPath(row),
    created_at: new Date(Number(row.createdAtMs)).toISOString(),
  };
}

/** The file name a browser or curl sends, without any folder part (`C:\fakepath\app.apk` → `app.apk`). */
const plainName = (filename: string) => filename.slice(Math.max(filename.lastIndexOf('/'), filename.lastIndexOf('\\')) + 1);

/** Reads a multipart upload, streaming the file into a new blob, and registers it. */
async function receiveUpload(registry: BuildRegistry, body: ReadableStream<Uint8Array>, boundary: string): Promise<Registered> {
  const fields: Record<string, string> = {};
  let blob: BlobWriter | null = null;
  let fileName = '';
  let current: { kind: 'file' } | { kind: 'field'; name: string; chunks: Buffer[]; bytes: number } | null = null;
  try {
    for await (const ev of readMultipart(body as unknown as AsyncIterable<Uint8Array>, boundary)) {
      if (ev.type === 'part') {
        if (ev.filename !== null || ev.name === 'file') {
          if (ev.name !== 'file') throw new QgError('validation_failed', `unexpected file field "${ev.name}": send the build as the field "file"`, { [ev.name]: 'unknown field' });
          if (blob) throw new QgError('validation_failed', 'send one file per upload', { file: 'only one file per upload' });
          fileName = plainName(ev.filename ?? '');
          const name = BuildFileName.safeParse(fileName);
          if (!name.success) {
            const why = name.error.issues[0]?.message.replace(/^file_name /, '') ?? 'is not a build file name';
            throw new QgError('validation_failed', `invalid upload: file: the file name "${fileName}" ${why}`, { file: `the file name "${fileName}" ${why}` });
          }
          // Fields sent before the file (the CLI sends them first) are checked before any byte of it is read.
          validate(AppUploadFields.partial(), fields, 'upload');
          blob = await registry.blobs.create(registry.maxBuildBytes);
          current = { kind: 'file' };
        } else {
          if (!FIELD_NAMES.has(ev.name)) throw new QgError('validation_failed', `invalid upload: unknown field "${ev.name}"`, { [ev.name]: 'unknown field' });
          if (ev.name in fields) throw new QgError('validation_failed', `invalid upload: the field "${ev.name}" is given twice`, { [ev.name]: 'given twice' });
          current = { kind: 'field', name: ev.name, chunks: [], bytes: 0 };
        }
      } else if (ev.type === 'data') {
        if (current?.kind === 'file') await blob!.write(ev.data);
        else if (current) {
          current.bytes += ev.data.byteLength;
          if (current.bytes > MAX_FIELD_BYTES) throw new QgError('validation_failed', `invalid upload: ${current.name} is too long`, { [current.name]: `must be at most ${MAX_FIELD_BYTES} bytes` });
          current.chunks.push(Buffer.from(ev.data));
        }
      } else {
        if (current?.kind === 'field') fields[current.name] = Buffer.concat(current.chunks).toString('utf8');
        current = null;
      }
    }
    if (!blob) throw new QgError('validation_failed', 'invalid upload: file: no build file in the upload', { file: 'is required: the build file as the multipart field "file"' });
    const parsed = validate(AppUploadFields, fields, 'upload');
    return await registry.registerUpload({ ...parsed, fileName }, blob);
  } finally {
    // No-op once the bytes were placed under their hash.
    if (blob) await blob.discard();
  }
}

async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<string> {
  if (!body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new QgError('payload_too_large', `the request body is over ${maxBytes / 1024} KiB`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface BuildRoutesDeps {
  registry: BuildRegistry;
}

export function buildRoutes({ registry }: BuildRoutesDeps): Hono {
  const api = new Hono();

  api.post('/apps', async (c) => {
    const type = c.req.header('content-type');
    const origin = new URL(c.req.url).origin;
    let r: Registered;
    const boundary = boundaryOf(type);
    if (boundary) {
      // A refused upload is answered before its body is read to the end: the connection then
      // cannot carry another request, so say so (the client opens a new one instead of failing).
      c.header('Connection', 'close');
      const declared = Number(c.req.header('content-length') ?? NaN);
      if (declared > registry.maxBuildBytes + MULTIPART_SLACK_BYTES) {
        throw new QgError('payload_too_large', `the upload is ${declared} bytes, over the limit of ${registry.maxBuildBytes} bytes for a build (QGJOB_MAX_BUILD_BYTES)`);
      }
      if (!c.req.raw.body) throw new QgError('validation_failed', 'the upload has no body');
      r = await receiveUpload(registry, c.req.raw.body, boundary);
      c.header('Connection', undefined);
    } else if (type && /^application\/json\b/i.test(type)) {
      const text = await readCapped(c.req.raw.body, MAX_JSON_BYTES);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new QgError('invalid_json', 'the request body is not valid JSON');
      }
      r = await registry.registerUrl(validate(AppUrlRegistration, json, 'build registration'), c.req.raw.signal);
    } else {
      throw new QgError(
        'validation_failed',
        'send the build as multipart/form-data (fields app_version_id, platform, file) or register a URL with application/json ({app_version_id, platform, url})',
      );
    }
    const reply: AppUploadReply = { ...toBuildView(r.row, origin), outcome: r.outcome, previous_sha256: r.previousSha256 };
    return c.json(reply, r.outcome === 'unchanged' ? 200 : 201, { Location: `/api/v1/apps/${encodeURIComponent(r.row.appVersionId)}` });
  });

  api.get('/apps/:app_version_id', async (c) => {
    const row = await registry.get(c.req.param('app_version_id'));
    return c.json(toBuildView(row, new URL(c.req.url).origin));
  });

  api.get('/apps/:app_version_id/download', async (c) => {
    const sha256 = c.req.query('sha256');
    if (sha256 !== undefined) validate(Sha256, sha256, 'sha256');
    const d = await registry.download(c.req.param('app_version_id'), sha256);
    if (d.kind === 'redirect') return c.redirect(d.url, 302);
    const size = Number(d.row.sizeBytes);
    const headers = {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
      'content-disposition': `attachment; filename="${d.row.fileName.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(d.row.fileName)}`,
      etag: `"${d.row.sha256}"`,
    };
    if (c.req.method === 'HEAD') return c.body(null, 200, headers);
    let fh;
    try {
      fh = await open(d.path, 'r');
    } catch (cause) {
      throw new QgError('build_not_found', `the file of build ${d.row.sha256} is gone (replaced meanwhile?); ask again`, undefined, { cause });
    }
    const stream = Readable.toWeb(fh.createReadStream({ autoClose: true })) as unknown as ReadableStream<Uint8Array>;
    return c.body(stream, 200, headers);
  });

  return api;
}
