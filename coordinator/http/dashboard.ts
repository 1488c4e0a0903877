/**
 * The web dashboard's files: `GET /` and `/dashboard` answer the page; `/dashboard/assets/<file>`
 * its CSS and JavaScript modules, and the Socket.IO client bundle from socket.io-client's package.
 * Static files with no build step and nothing from a CDN. The page itself holds no data: it gets
 * everything over the `/dashboard` Socket.IO namespace, which checks the token.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { QgError } from '../../shared/index.js';

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/** The page's own files (`coordinator/dashboard/public/`, copied next to the compiled code by the build). */
const PUBLIC_FILES = ['index.html', 'app.js', 'render.js', 'format.js', 'style.css'] as const;
const SOCKET_IO_CLIENT = 'socket.io.esm.min.js';

/** Scripts, styles and sockets only from this origin; no inline script; no framing. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; media-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function loadFiles(publicDir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of PUBLIC_FILES) files.set(name, readFileSync(join(publicDir, name), 'utf8'));
  const clientDir = join(dirname(createRequire(import.meta.url).resolve('socket.io-client/package.json')), 'dist');
  // The source map is not served: drop the comment that would make devtools ask for it.
  files.set(SOCKET_IO_CLIENT, readFileSync(join(clientDir, SOCKET_IO_CLIENT), 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'));
  return files;
}

/**
 * The dashboard's routes, mounted at `/`. Files are read once, when the routes are built.
 * @example app.route('/', dashboardRoutes())
 */
export function dashboardRoutes(publicDir = fileURLToPath(new URL('../dashboard/public/', import.meta.url))): Hono {
  const files = loadFiles(publicDir);
  const app = new Hono();
  const send = (name: string, extra: Record<string, string> = {}) => {
    const body = files.get(name);
    if (body === undefined) throw new QgError('not_found', `no dashboard file ${name}`);
    const type = TYPES[name.slice(name.lastIndexOf('.') + 1)]!;
    return new Response(body, {
      headers: { 'Content-Type': type, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff', ...extra },
    });
  };
  const page = () => send('index.html', { 'Content-Security-Policy': CSP, 'Referrer-Policy': 'no-referrer' });
  app.get('/', page);
  app.get('/dashboard', page);
  app.get('/dashboard/assets/:file', (c) => send(c.req.param('file')));
  return app;
}
