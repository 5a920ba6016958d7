// Evaluators: the Wasm default and `opa run --server` give the same answers for the same Rego,
// and every failure of the server path is a deny with its reason code.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureOpa, projectRoot } from '@intentgate/infra';
import { canonicalJson } from '@intentgate/evidence';
import { buildBundle, decideWith, OpaServerEvaluator, PolicyEngine, wasmEvaluator } from '../src/index.ts';
import { policyInput } from './fixtures.ts';

let engine: PolicyEngine;
let opa: ChildProcess;
let opaUrl: string;
const servers: Server[] = [];

function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  const opaPath = await ensureOpa();
  engine = await PolicyEngine.load((await buildBundle({ opaPath, policyDir: join(projectRoot, 'policies') })).bytes, { version: '1' });
  // A free port: bind, note it, release it, hand it to opa.
  const probe = await listen(() => {});
  const port = new URL(probe).port;
  await new Promise((r) => servers.pop()!.close(r));
  opa = spawn(opaPath, ['run', '--server', '--addr', `127.0.0.1:${port}`, '--ignore', '*_test.rego', '--log-level', 'error', join(projectRoot, 'policies')], { stdio: 'ignore' });
  opaUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200 && !(await fetch(`${opaUrl}/health`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
}, 600_000);

afterAll(async () => {
  opa?.kill('SIGTERM');
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

const inputs = {
  allow: policyInput(),
  budget: policyInput({ action: { name: 'data.export', reversible: false }, intentContext: { rows: 5000 } }),
  escalate: policyInput({ action: { name: 'data.delete', reversible: false }, intentContext: { rows: 5 } }),
  erroring: policyInput({ action: { name: 'data.export' }, intentContext: { rows: 10 }, context: { session: { exported_rows: 'lots' } } }),
};

describe('evaluators', () => {
  it('the engine reads pre-serialized JSON exactly as it reads the object', () => {
    for (const input of Object.values(inputs)) expect(engine.evaluateJson(canonicalJson(input))).toEqual(engine.evaluate(input));
  });

  it('opa run --server and the Wasm engine decide the same inputs alike', async () => {
    const server = new OpaServerEvaluator({ url: opaUrl });
    try {
      for (const [name, input] of Object.entries(inputs)) {
        const json = canonicalJson(input);
        const viaWasm = await decideWith(wasmEvaluator, engine, input, json);
        const viaServer = await decideWith(server, engine, input, json, 5_000_000);
        expect({ verdict: viaServer.verdict, reasons: viaServer.reasons, obligations: viaServer.obligations }, name)
          .toEqual({ verdict: viaWasm.verdict, reasons: viaWasm.reasons, obligations: viaWasm.obligations });
        expect(viaServer.policy).toEqual(engine.ref);
      }
    } finally {
      server.close();
    }
  });

  it('every failure of the server path denies with a reason code', async () => {
    const input = inputs.allow;
    const json = canonicalJson(input);
    const ask = async (url: string, timeoutMicros = 2_000_000) => {
      const evaluator = new OpaServerEvaluator({ url });
      try {
        return await decideWith(evaluator, engine, input, json, timeoutMicros);
      } finally {
        evaluator.close();
      }
    };
    const unreachable = await ask('http://127.0.0.1:1'); // nothing listens on port 1
    expect(unreachable).toMatchObject({ verdict: 'deny', reasons: [{ code: 'POLICY_ERROR' }] });
    const error500 = await ask(await listen((_req, res) => res.writeHead(500).end('{"code":"internal_error"}')));
    expect(error500).toMatchObject({ verdict: 'deny', reasons: [{ code: 'POLICY_ERROR' }] });
    const notJson = await ask(await listen((_req, res) => res.writeHead(200).end('<html>')));
    expect(notJson).toMatchObject({ verdict: 'deny', reasons: [{ code: 'POLICY_ERROR' }] });
    const undefinedResult = await ask(await listen((_req, res) => res.writeHead(200).end('{}')));
    expect(undefinedResult).toMatchObject({ verdict: 'deny', reasons: [{ code: 'POLICY_UNDEFINED' }] });
    const notADecision = await ask(await listen((_req, res) => res.writeHead(200).end('{"result":{"verdict":"allow"}}')));
    expect(notADecision).toMatchObject({ verdict: 'deny', reasons: [{ code: 'POLICY_RESULT_INVALID' }] });
    const silent = await ask(await listen(() => {}), 200_000);
    expect(silent).toMatchObject({ verdict: 'deny', reasons: [{ code: 'POLICY_TIMEOUT' }] });
    const slowAllow = await ask(await listen((_req, res) => {
      setTimeout(() => res.writeHead(200).end('{"result":{"verdict":"allow","reasons":[{"code":"OK","rule":"r","message":""}],"obligations":{}}}'), 300);
    }), 100_000);
    expect(slowAllow).toMatchObject({ verdict: 'deny', reasons: [{ code: 'POLICY_TIMEOUT' }] });
    expect(await decideWith(new OpaServerEvaluator({ url: opaUrl }), null, input, json)).toMatchObject({ verdict: 'deny', reasons: [{ code: 'NO_ACTIVE_BUNDLE' }] });
  });
});
