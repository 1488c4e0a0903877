/**
 * Child process: the reference for benchmark 4, a bare Hono app on @hono/node-server that parses
 * a small JSON POST and answers 201 with a small JSON body: no validation, no database. IPC:
 * sends `ready` with its port.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { serveIpc } from './common.js';

const app = new Hono();
let n = 0;
app.post('/api/v1/jobs', async (c) => {
  const body = (await c.req.json()) as Record<string, unknown>;
  return c.json({ job_id: `job_${++n}`, status: 'queued', org_id: body.org_id }, 201);
});
const ipc = serveIpc({});
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => ipc.send('ready', { port: info.port }));
