import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProbeAnswer } from '@intentgate/bus';
import { listenUrl, type Jwks } from '@intentgate/evidence';

export interface HttpEndpoints {
  jwks: () => Jwks;
  probe: (probe: 'live' | 'ready') => ProbeAnswer;
  /** Prometheus text. */
  metrics: () => Promise<string>;
}

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

/** /healthz, /readyz, /metrics (Prometheus text), /.well-known/jwks.json (warrant keys). */
export async function startHttp(port: number, host: string, endpoints: HttpEndpoints): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const json = (status: number, value: unknown) => send(status, 'application/json', JSON.stringify(value));
    if (req.method !== 'GET') return json(405, { code: 'METHOD_NOT_ALLOWED', message: 'only GET is served here' });
    switch (req.url) {
      case '/healthz':
      case '/readyz': {
        const answer = endpoints.probe(req.url === '/healthz' ? 'live' : 'ready');
        return json(answer.status, answer.body);
      }
      case '/.well-known/jwks.json':
        return json(200, endpoints.jwks());
      case '/metrics':
        endpoints.metrics().then(
          (text) => send(200, PROMETHEUS_TEXT, text),
          (err: unknown) => json(500, { code: 'METRICS_FAILED', message: String(err) }),
        );
        return;
      default:
        return json(404, { code: 'NOT_FOUND', message: `no such endpoint: ${req.url}` });
    }
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: listenUrl(host, bound),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
