/**
 * A streaming reader of `multipart/form-data` bodies (RFC 7578): it yields each part's headers,
 * then its bytes in chunks as they arrive, then the part's end. Nothing is buffered beyond a
 * boundary's length, so a file of gigabytes passes through in constant memory, and the consumer
 * sets the pace (the next chunk is read when it asks for it).
 */
import { QgError } from '../../shared/index.js';

export type MultipartEvent =
  | { type: 'part'; name: string; filename: string | null; contentType: string | null }
  | { type: 'data'; data: Uint8Array }
  | { type: 'end' };

export interface MultipartLimits {
  /** Largest header block of one part (bytes). Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Most parts in one body. Default 32. */
  maxParts?: number;
}

const malformed = (why: string) => new QgError('validation_failed', `the multipart body is malformed: ${why}`);

/**
 * The boundary of a `multipart/form-data` content type, or null when it is not one.
 * @example boundaryOf('multipart/form-data; boundary=----x') // '----x'
 */
export function boundaryOf(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const m = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^;\s]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

/** Parameters of a header value: `form-data; name="file"; filename="a.apk"` → { name, filename }. */
function headerParams(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const key = m[1]!.toLowerCase();
    let v = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!.trim();
    if (key.endsWith('*')) {
      // RFC 5987: charset'lang'percent-encoded
      const ext = /^[^']*'[^']*'(.*)$/.exec(v);
      try {
        v = decodeURIComponent(ext ? ext[1]! : v);
      } catch {
        continue;
      }
      out[key.slice(0, -1)] = v;
      continue;
    }
    if (!(key in out)) out[key] = v;
  }
  return out;
}

function parseHeaders(block: Buffer): { name: string; filename: string | null; contentType: string | null } {
  const headers = new Map<string, string>();
  for (const line of block.toString('utf8').split('\r\n')) {
    if (!line) continue;
    const i = line.indexOf(':');
    if (i <= 0) throw malformed(`bad part header line "${line.slice(0, 80)}"`);
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const disposition = headers.get('content-disposition');
  if (!disposition || !/^form-data\b/i.test(disposition)) throw malformed('a part has no Content-Disposition: form-data header');
  const params = headerParams(disposition);
  if (params.name === undefined) throw malformed('a part has no name');
  return { name: params.name, filename: params.filename ?? null, contentType: headers.get('content-type') ?? null };
}

/**
 * Reads a multipart body part by part.
 * @example
 * for await (const ev of readMultipart(req.body, boundary)) {
 *   if (ev.type === 'part') console.log(ev.name, ev.filename);
 *   else if (ev.type === 'data') await sink.write(ev.data);
 * }
 */
export async function* readMultipart(body: AsyncIterable<Uint8Array>, boundary: string, limits: MultipartLimits = {}): AsyncGenerator<MultipartEvent> {
  const maxHeaderBytes = limits.maxHeaderBytes ?? 16 * 1024;
  const maxParts = limits.maxParts ?? 32;
  // Every boundary but the first is preceded by CRLF; starting with one makes the first look the same.
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const headerEnd = Buffer.from('\r\n\r\n');
  let buf: Buffer = Buffer.from('\r\n');
  let state: 'preamble' | 'after-boundary' | 'headers' | 'body' | 'done' = 'preamble';
  let parts = 0;

  const iterator = body[Symbol.asyncIterator]();
  let ended = false;
  /** Appends the next chunk of the body; false at its end. */
  const more = async (): Promise<boolean> => {
    if (ended) return false;
    const r = await iterator.next();
    if (r.done) {
      ended = true;
      return false;
    }
    buf = buf.length ? Buffer.concat([buf, r.value]) : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    return true;
  };

  try {
    for (;;) {
      if (state === 'preamble') {
        const i = buf.indexOf(delimiter);
        if (i >= 0) {
          buf = buf.subarray(i + delimiter.length);
          state = 'after-boundary';
          continue;
        }
        // Keep only what could be the start of the delimiter.
        if (buf.length > delimiter.length) buf = buf.subarray(buf.length - delimiter.length);
        if (!(await more())) throw malformed('no boundary found');
      } else if (state === 'after-boundary') {
        // After a boundary: "--" closes the body; else optional blanks and CRLF open a part.
        let j = 0;
        while (j < buf.length && (buf[j] === 0x20 || buf[j] === 0x09)) j++;
        if (buf.length - j < 2) {
          if (!(await more())) throw malformed('the body ended after a boundary');
          continue;
        }
        if (buf[j] === 0x2d && buf[j + 1] === 0x2d) {
          state = 'done';
          break;
        }
        if (buf[j] !== 0x0d || buf[j + 1] !== 0x0a) throw malformed('a boundary is not followed by a line break');
        buf = buf.subarray(j + 2);
        state = 'headers';
      } else if (state === 'headers') {
        // A form-data part has at least its Content-Disposition line: a blank line first is an error.
        if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) throw malformed('a part has no Content-Disposition header');
        const i = buf.indexOf(headerEnd);
        if (i < 0) {
          if (buf.length > maxHeaderBytes) throw malformed(`a part's headers are over ${maxHeaderBytes} bytes`);
          if (!(await more())) throw malformed('the body ended inside a part header');
          continue;
        }
        if (i > maxHeaderBytes) throw malformed(`a part's headers are over ${maxHeaderBytes} bytes`);
        if (++parts > maxParts) throw malformed(`more than ${maxParts} parts`);
        const block = buf.subarray(0, i);
        buf = buf.subarray(i + headerEnd.length);
        yield { type: 'part', ...parseHeaders(block) };
        state = 'body';
      } else if (state === 'body') {
        const i = buf.indexOf(delimiter);
        if (i >= 0) {
          if (i > 0) yield { type: 'data', data: buf.subarray(0, i) };
          buf = buf.subarray(i + delimiter.length);
          yield { type: 'end' };
          state = 'after-boundary';
          continue;
        }
        // Everything but a possible partial delimiter at the end is the part's data.
        const safe = buf.length - (delimiter.length - 1);
        if (safe > 0) {
          yield { type: 'data', data: buf.subarray(0, safe) };
          buf = buf.subarray(safe);
        }
        if (!(await more())) throw malformed('the body ended inside a part (upload cut off?)');
      }
    }
    // Whatever follows the closing boundary is an epilogue: read and ignore it.
    while (await more()) buf = Buffer.alloc(0);
  } finally {
    if (!ended) await iterator.return?.();
  }
}
