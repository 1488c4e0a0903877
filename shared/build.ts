/**
 * App builds: what `POST /api/v1/apps` accepts (a multipart upload or a URL to register), the
 * file names a build may have, and the sha256 that identifies a build everywhere (registry,
 * assignments, the agent's cache).
 */
import { z } from 'zod';
import { AppVersionId, PLATFORMS } from './job.js';

/** How a build reached the registry: its bytes were uploaded, or a URL was registered. */
export const BUILD_SOURCES = ['upload', 'url'] as const;
export type BuildSource = (typeof BUILD_SOURCES)[number];

/**
 * The file name endings a build may have: Android (`.apk`, `.aab`), iOS (`.ipa`, a zipped
 * `.app` as `.app.zip` or `.zip`), and `.xml`, the Appium fake driver's "app" (tests, quickstart).
 */
export const BUILD_FILE_EXTENSIONS = ['.app.zip', '.apk', '.aab', '.ipa', '.zip', '.xml'] as const;

/**
 * The extension of a build file name (the longest allowed ending, lower-cased), or null when the
 * name has none of BUILD_FILE_EXTENSIONS.
 * @example buildFileExtension('MyApp.APP.zip') // '.app.zip'
 */
export function buildFileExtension(fileName: string): string | null {
  const lower = fileName.toLowerCase();
  for (const ext of BUILD_FILE_EXTENSIONS) if (lower.endsWith(ext) && lower.length > ext.length) return ext;
  return null;
}

const EXTENSION_MESSAGE = `must end in ${BUILD_FILE_EXTENSIONS.join(', ')}`;

/** A build's file name as stored: a plain name (no folders, no control characters) with an allowed extension. */
export const BuildFileName = z
  .string({ error: 'file_name must be a string' })
  .min(1, 'file_name must not be empty')
  .max(255, 'file_name must be at most 255 characters')
  .refine((n) => !/[\\/\u0000-\u001f]/.test(n) && n !== '.' && n !== '..', 'file_name must be a plain file name (no folders)')
  .refine((n) => buildFileExtension(n) !== null, EXTENSION_MESSAGE);

/** A hex sha256 (64 lower-case hex digits). */
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256: 64 lower-case hex digits');

const platform = z.enum(PLATFORMS, { error: `platform must be one of ${PLATFORMS.join(', ')}` });

/** The text fields of a multipart upload (`file` is the file part). */
export const AppUploadFields = z.object({ app_version_id: AppVersionId, platform }).strict();
export type AppUploadFields = z.infer<typeof AppUploadFields>;

/**
 * Registering a build by URL (`POST /api/v1/apps` with a JSON body). The coordinator reads the
 * URL once to learn the build's sha256 and size (and checks `sha256` when given); agents then
 * download it from there through the coordinator's download link (a redirect).
 */
export const AppUrlRegistration = z
  .object({
    app_version_id: AppVersionId,
    platform,
    url: z
      .string({ error: 'url must be a string' })
      .max(4096, 'url must be at most 4096 characters')
      .refine((u) => {
        try {
          return ['http:', 'https:'].includes(new URL(u).protocol);
        } catch {
          return false;
        }
      }, 'url must be an http(s) URL'),
    /** The build's file name; default the last segment of the URL's path. */
    file_name: BuildFileName.optional(),
    /** When given, the bytes at `url` must have this sha256. */
    sha256: Sha256.optional(),
  })
  .strict();
export type AppUrlRegistration = z.infer<typeof AppUrlRegistration>;
