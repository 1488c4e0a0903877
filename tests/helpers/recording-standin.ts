/**
 * A SCREEN-RECORDING STAND-IN in front of a real Appium server. Appium's fake driver cannot
 * record the screen, so this proxy answers the two recording commands itself
 * (`POST /session/:id/appium/start_recording_screen`, `…/stop_recording_screen`) and forwards
 * every other request to Appium unchanged. What it returns as "the recording" is honest: the
 * session's real final screenshot (a PNG the fake driver renders), base64-encoded as Appium
 * returns recordings; the agent names its true content type. Nothing here pretends to be MP4.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';

export interface RecordingStandin {
  url: string;
  /** Recordings started and stopped, per session id. */
  recordings(): Array<{ sessionId: string; bytes: number }>;
  stop(): Promise<void>;
}

export async function startRecordingStandin(appiumUrl: string): Promise<RecordingStandin> {
  const target = appiumUrl.replace(/\/+$/, '');
  const started = new Set<string>();
  const done: Array<{ sessionId: string; bytes: number }> = [];
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const server = createServer(async (req, res) => {
    try {
      const m = /^\/session\/([^/]+)\/appium\/(start|stop)_recording_screen$/.exec(req.url ?? '');
      if (m && req.method === 'POST') {
        await readBody(req);
        const [, sessionId, action] = m;
        if (action === 'start') {
          started.add(sessionId!);
          return json(res, 200, { value: null });
        }
        if (!started.delete(sessionId!)) return json(res, 500, { value: { error: 'unknown error', message: 'no recording was started' } });
        const shot = (await (await fetch(`${target}/session/${sessionId}/screenshot`)).json()) as { value: string };
        done.push({ sessionId: sessionId!, bytes: Buffer.from(shot.value, 'base64').length });
        return json(res, 200, { value: shot.value });
      }
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readBody(req);
      const upstream = await fetch(`${target}${req.url}`, {
        method: req.method!,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        ...(body ? { body: new Uint8Array(body) } : {}),
      });
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    } catch (err) {
      json(res, 502, { value: { error: 'unknown error', message: `recording stand-in: ${(err as Error).message}` } });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    recordings: () => [...done],
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
