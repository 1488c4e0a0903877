/**
 * Screen recording through Appium (`startRecordingScreen` / `stopRecordingScreen`) where the
 * slot's driver supports it. Where it does not, the result says so explicitly instead of
 * pretending: `note` explains why there is no video.
 */
import type { DeviceSession } from '../runner/appwright-runner.js';
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

/**
 * Stops a recording. Storing the file and serving it at a stable URL is not built yet, so a
 * recorded video is reported by its size in the note and no URL is invented.
 */
export async function stopRecording(session: DeviceSession, rec: Recording): Promise<{ url: string | null; note: string | null }> {
  if (!rec.started) return { url: null, note: rec.note };
  try {
    const base64 = await command<string>(session.endpoint, 'POST', `/session/${session.sessionId}/appium/stop_recording_screen`, { options: {} });
    const bytes = typeof base64 === 'string' ? Buffer.byteLength(base64, 'base64') : 0;
    return { url: null, note: `the device recorded ${bytes} bytes of video, but this agent cannot upload videos yet` };
  } catch (err) {
    return { url: null, note: `stopping the screen recording failed: ${(err as Error).message.slice(0, 300)}` };
  }
}
