/**
 * A loopback TCP proxy a test can cut: every connection through it is forwarded to `target`
 * until `cut(ms)` destroys them all and refuses new ones for `ms`. Used to put a network
 * partition between an agent and the coordinator.
 */
import { type Server, type Socket, connect, createServer } from 'node:net';
import { once } from 'node:events';

export interface TcpProxy {
  url: string;
  port: number;
  /** Drops every connection now and refuses new ones until `ms` have passed. */
  cut(ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let refuseUntil = 0;
  const server: Server = createServer((client) => {
    if (Date.now() < refuseUntil) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    open.add(client);
    open.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async cut(ms) {
      refuseUntil = Date.now() + ms;
      for (const s of open) s.destroy();
      open.clear();
      await new Promise((r) => setTimeout(r, ms)); // the partition itself: the test asks for a cut of this length
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
