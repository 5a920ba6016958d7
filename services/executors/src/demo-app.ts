// The app domain's target: a small local "orders" HTTP service the project owns. What it holds
// is the visible side effect of an executed app intent.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoApp {
  url: string;
  orders(): Array<{ id: string; body: unknown; intent_id: string | null }>;
  close(): Promise<void>;
}

export async function startDemoApp(): Promise<DemoApp> {
  const orders: Array<{ id: string; body: unknown; intent_id: string | null }> = [];
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let raw = '';
    req.on('data', (c: Buffer) => {
      raw += c.toString('utf8');
      if (raw.length > 64_000) req.destroy();
    });
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path !== '/orders') return reply(404, { code: 'NOT_FOUND', message: path });
      if (req.method === 'GET') return reply(200, orders);
      if (req.method === 'POST') {
        let body: unknown = null;
        try {
          body = raw ? JSON.parse(raw) : null;
        } catch {
          return reply(400, { code: 'BAD_JSON', message: 'body is not JSON' });
        }
        const order = { id: `order-${orders.length + 1}`, body, intent_id: (req.headers['x-intentgate-intent'] as string | undefined) ?? null };
        orders.push(order);
        return reply(201, order);
      }
      return reply(405, { code: 'METHOD_NOT_ALLOWED', message: req.method });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, orders: () => [...orders], close: () => new Promise((r) => server.close(() => r())) };
}
