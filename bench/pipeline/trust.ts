// The benchmark's trust material: a root, operator and publisher key of its own (as `intentgate
// trust init` writes them), and certified signer files for the worker and executor processes.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certifyService, ensureTrustMaterial, loadPrivateKey, publicJwkOf, type SigningKey } from '@intentgate/evidence';

export interface BenchTrust {
  trustFile: string;
  decisionSignerFile: string;
  executorSignerFile: string;
  operator: SigningKey;
  /** For buildBundle's `signing`. */
  publisher: { keyFile: string; kid: string };
}

export async function benchTrust(): Promise<BenchTrust> {
  const { paths } = await ensureTrustMaterial(join(await mkdtemp(join(tmpdir(), 'ig-bench-trust-')), 'trust'));
  const decision = await certifyService(paths.dir, 'decision', `bench-decision-${Date.now().toString(36)}`);
  const executor = await certifyService(paths.dir, 'executor', `bench-executor-${Date.now().toString(36)}`);
  return {
    trustFile: paths.trustFile, decisionSignerFile: decision.file, executorSignerFile: executor.file,
    operator: await loadPrivateKey(paths.operatorKey),
    publisher: { keyFile: paths.policyPublisherPem, kid: publicJwkOf(await loadPrivateKey(paths.policyPublisherJwk)).kid },
  };
}
