/**
 * Screen recording through Appium (`startRecordingScreen` / `stopRecordingScreen`) where the
 * slot's driver supports it. The recorded file is uploaded to the coordinator, which serves it at
 * a stable URL. Where the driver cannot record, the result says so explicitly instead of
 * pretending: `note` explains why there is no video.
 */
import type { DeviceSession } from '../runner/appwright-runner.js';
import type { RunVideo, VideoUploader } from './slot.js';
import { WebDriverError, command } from './webdriver-client.js';

export type Recording = { started: true } | { started: false; note: string };

export async function startRecording(session: DeviceSession): Promise<Recording> {
  try {
    await command(session.endpoint, 'POST', `/session/${session.sessionId}/appium/start_recording_screen`, { options: {} });
    return { started: true };
  } catch (err) {
    const why = err instanceof WebDriverError ? err.code : String(err).slice(0, 200);
    return { started: false, note: `the device's driver cannot record the screen (${why})` };
  }
}

/** The content type of a recording, from its first bytes (drivers return MP4; others are named as they are). */
export function sniffVideoType(bytes: Buffer): string | null {
  if (bytes.length >= 12 && bytes.subarray(4, 8).toString('latin1') === 'ftyp') return 'video/mp4';
  if (bytes.length >= 4 && bytes.readUInt32BE(0) === 0x1a45dfa3) return 'video/webm';
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.length >= 6 && bytes.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  return null;
}

/** Stops a recording and uploads it; the URL (or why there is none) is the run's video. */
export async function stopRecording(session: DeviceSession, rec: Recording, upload: VideoUploader): Promise<RunVideo> {
  if (!rec.started) return { url: null, note: rec.note };
  let bytes: Buffer;
  try {
    const base64 = await command<string>(session.endpoint, 'POST', `/session/${session.sessionId}/appium/stop_recording_screen`, { options: {} }, 120_000);
    bytes = Buffer.from(typeof base64 === 'string' ? base64 : '', 'base64');
  } catch (err) {
    return { url: null, note: `stopping the screen recording failed: ${(err as Error).message.slice(0, 300)}` };
  }
  if (bytes.length === 0) return { url: null, note: 'the driver returned an empty recording' };
  const type = sniffVideoType(bytes);
  if (!type) return { url: null, note: `the driver returned ${bytes.length} bytes in an unknown format` };
  try {
    const url = await upload(bytes, type);
    return { url, note: type.startsWith('video/') ? null : `recorded as ${type}` };
  } catch (err) {
    return { url: null, note: `the recording (${bytes.length} bytes) could not be uploaded: ${(err as Error).message.slice(0, 300)}` };
  }
}
