// `intentgate trust init | certify`: a deployment's trust material. The root certifies the
// services' keys; the operator key signs activations (and what the CLI publishes); the policy
// publisher's key signs bundles. Services are configured with the public trust file only.
import { join } from 'node:path';
import { stateDir } from '@intentgate/infra';
import { certifyService, ensureTrustMaterial, revokeKey, SERVICE_AUTHORITIES, trustPaths, type ServiceName } from '@intentgate/evidence';
import { CliError } from './errors.ts';
import type { Out } from './commands.ts';

export function defaultTrustDir(): string {
  return join(stateDir(), 'trust');
}

export async function trustInit(dir: string, out: Out): Promise<void> {
  const { paths, created } = await ensureTrustMaterial(dir);
  out(created ? `created the trust material in ${paths.dir}` : `trust material already in ${paths.dir} (kept as it is)`);
  out(`  trust file (public; configure every service with it: INTENTGATE_TRUST_FILE)  ${paths.trustFile}`);
  out(`  root key (private; certifies service keys; keep it offline in production)     ${paths.rootKey}`);
  out(`  operator key (private; signs activations and what the CLI publishes)          ${paths.operatorKey}`);
  out(`  policy publisher key (private; opa build --bundle --signing-key)              ${paths.policyPublisherPem}`);
}

export async function trustCertify(service: string | undefined, dir: string, kid: string | undefined, out: Out): Promise<void> {
  if (!service || !(service in SERVICE_AUTHORITIES)) {
    throw new CliError('USAGE', `trust certify needs a service: ${Object.keys(SERVICE_AUTHORITIES).join(', ')}`, 'e.g. intentgate trust certify decision');
  }
  const name = service as ServiceName;
  const { signer, file } = await certifyService(dir, name, kid ?? `${name}-${Date.now().toString(36)}`, { file: name });
  out(`certified key ${signer.key.kid} for ${signer.principal} (may sign: ${signer.uses.join(', ')}${signer.receiptKinds.length ? `; receipts: ${signer.receiptKinds.join(', ')}` : ''})`);
  out(`  signer file (private, 0600): ${file}  (the service reads it as INTENTGATE_SIGNER_FILE)`);
}

export async function trustRevoke(kid: string | undefined, dir: string, out: Out): Promise<void> {
  if (!kid) throw new CliError('USAGE', 'trust revoke needs the key id of a certified key', 'e.g. intentgate trust revoke decision-1a2b3c4d (the kid is in the key\'s signer file and on warrant.keys)');
  const file = trustPaths(dir).trustFile;
  const { alreadyRevoked } = await revokeKey(file, kid);
  out(alreadyRevoked ? `key ${kid} was already revoked in ${file}` : `revoked key ${kid} in ${file}; restart the services (they read the trust file at start) and certify a new key for its service`);
}
