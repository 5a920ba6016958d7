// The trust material integration tests run under: one deployment root, operator key and policy
// publisher key for the whole run (made by the global setup, as `intentgate trust init` makes
// them), and a freshly certified key for each service a test starts.
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { Bus } from '@intentgate/bus';
import { publishAndActivate, type PublishOptions } from '@intentgate/decision';
import {
  certifyService, ensureTrustMaterial, loadPrivateKey, publicJwkOf,
  type CertifiedSigner, type ServiceName, type SigningKey, type TrustPaths, type TrustRoots,
} from '@intentgate/evidence';
import type { BuiltBundle } from '@intentgate/policy';

export interface TestTrust {
  paths: TrustPaths;
  roots: TrustRoots;
  root: SigningKey;
  operator: SigningKey;
  /** For buildBundle's `signing`: the publisher's PEM file and key id. */
  publisher: { keyFile: string; kid: string };
  publisherKey: SigningKey;
}

let material: Promise<TestTrust> | null = null;

export function testTrust(): Promise<TestTrust> {
  material ??= (async () => {
    // The integration run's shared material; a unit test (no global setup) gets its own.
    const dir = inject('trustDir') ?? join(await mkdtemp(join(tmpdir(), 'ig-trust-')), 'trust');
    const { paths, roots } = await ensureTrustMaterial(dir);
    const publisher = await loadPrivateKey(paths.policyPublisherJwk);
    return {
      paths, roots, root: await loadPrivateKey(paths.rootKey), operator: await loadPrivateKey(paths.operatorKey),
      publisher: { keyFile: paths.policyPublisherPem, kid: publicJwkOf(publisher).kid }, publisherKey: publisher,
    };
  })();
  return material;
}

/** A service's trust options: the roots and a key certified for it just now (its signer file in `signerFile`). */
export async function serviceTrust(service: ServiceName): Promise<{ roots: TrustRoots; signer: CertifiedSigner; signerFile: string }> {
  const t = await testTrust();
  const { signer, file } = await certifyService(t.paths.dir, service, `${service}-${randomUUID().slice(0, 8)}`);
  return { roots: t.roots, signer, signerFile: file };
}

/** publishAndActivate signed with the test operator key. */
export async function activate(bus: Bus, bundle: BuiltBundle, options: Omit<PublishOptions, 'operator'>): Promise<void> {
  await publishAndActivate(bus, bundle, { ...options, operator: (await testTrust()).operator });
}

/** Publishes a signer's key with its certificate on warrant.keys, as every signing service does at start. */
export async function publishSigningKey(bus: Bus, signer: CertifiedSigner): Promise<void> {
  await bus.producer().send({
    topic: 'warrant.keys', key: signer.key.kid,
    value: { issuer: signer.principal, kid: signer.key.kid, jwk: { ...publicJwkOf(signer.key), alg: 'EdDSA', use: 'sig' }, published_at: new Date().toISOString(), certificate: signer.certificate },
  });
}
