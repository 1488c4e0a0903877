/** How the CLI prints an app build (`qgjob app upload`, `qgjob app show`). Pure functions from data to text. */
import type { AppBuildView, AppUploadReply } from '../shared/index.js';
import type { Paint } from './format.js';

/** `12.3 MiB`, `512 B`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** One line per field, `name  value`, as `qgjob status` prints a job. */
export function buildLines(b: AppBuildView, c: Paint): string[] {
  const rows: Array<[string, string]> = [
    ['app_version_id', c.bold(b.app_version_id)],
    ['platform', b.platform],
    ['sha256', b.sha256],
    ['size', `${formatBytes(b.size_bytes)} (${b.size_bytes} bytes)`],
    ['file', b.file_name],
    ['source', b.source === 'url' ? `url ${b.url ?? ''}` : 'upload'],
    ['download', b.download_url],
    ['registered', b.created_at],
  ];
  return rows.map(([k, v]) => `${c.dim(k.padEnd(15))}${v}`);
}

/**
 * What an upload did, in one line.
 * @example outcomeLine(reply) // "replaced: xyz123 now has build 9f86d081884c (was 2c26b46b68ff)"
 */
export function outcomeLine(r: AppUploadReply): string {
  const short = (sha: string) => sha.slice(0, 12);
  switch (r.outcome) {
    case 'created':
      return `created: ${r.app_version_id} has build ${short(r.sha256)} (${formatBytes(r.size_bytes)})`;
    case 'unchanged':
      return `unchanged: ${r.app_version_id} already has exactly this build (${short(r.sha256)})`;
    case 'replaced':
      return `replaced: ${r.app_version_id} now has build ${short(r.sha256)} (was ${short(r.previous_sha256 ?? '')}); agents install it again`;
  }
}
