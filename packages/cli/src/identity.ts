// The local development issuer: a trust domain's key, JWT-SVIDs and delegation tokens, signed
// for real. In production, SVIDs come from SPIRE and the decision worker trusts its JWKS.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportPrivateJwk, generateSigningKey, importSigningKey, issueDelegation, issueSvid, jwksOf } from '@intentgate/evidence';
import { CliError } from './errors.ts';
import type { Out } from './commands.ts';

export async function identityInit(trustDomain: string, dir: string, out: Out): Promise<void> {
  if (!/^[a-z0-9._-]+$/.test(trustDomain)) throw new CliError('USAGE', `${trustDomain} is not a trust domain name`, 'Use lowercase letters, digits, dots, dashes.');
  await mkdir(dir, { recursive: true });
  const key = await generateSigningKey(`${trustDomain}-${new Date().toISOString().slice(0, 10)}`);
  const keyFile = join(dir, `${trustDomain}.key.json`);
  await writeFile(keyFile, JSON.stringify({ trust_domain: trustDomain, jwk: await exportPrivateJwk(key) }), { mode: 0o600, flag: 'wx' }).catch(() => {
    throw new CliError('EXISTS', `${keyFile} exists`, 'Keep the existing trust domain, or remove the file to start over.');
  });
  const jwksFile = join(dir, `${trustDomain}.jwks.json`);
  await writeFile(jwksFile, JSON.stringify(jwksOf([key]), null, 2));
  out(`trust domain ${trustDomain}: private key ${keyFile}, public keys ${jwksFile}`);
  out(`trust it in the decision worker with TRUST_BUNDLES=${trustDomain}=${jwksFile}`);
}

async function loadKey(file: string) {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new CliError('NOT_FOUND', `no key file ${file}`, 'Create one with `intentgate identity init <trust-domain> --out <dir>`.');
  });
  const { trust_domain, jwk } = JSON.parse(text) as { trust_domain: string; jwk: Parameters<typeof importSigningKey>[0] };
  return { trustDomain: trust_domain, key: await importSigningKey(jwk) };
}

export async function identitySvid(spiffeId: string, keyFile: string, ttlSeconds: number, out: Out): Promise<void> {
  const { trustDomain, key } = await loadKey(keyFile);
  if (!spiffeId.startsWith(`spiffe://${trustDomain}/`)) throw new CliError('USAGE', `${spiffeId} is not in trust domain ${trustDomain}`, `Use spiffe://${trustDomain}/<path>.`);
  out(await issueSvid(key, spiffeId, ttlSeconds));
}

export async function identityDelegate(
  keyFile: string,
  grant: { from: string; fromKind: string; to: string; toKind: string; scope: string[]; ttlSeconds: number },
  out: Out,
): Promise<void> {
  const kinds = ['human', 'agent', 'service'];
  if (!kinds.includes(grant.fromKind) || !kinds.includes(grant.toKind)) throw new CliError('USAGE', 'kinds are human, agent or service', 'Pass --from-kind and --to-kind.');
  if (grant.scope.length === 0) throw new CliError('USAGE', 'a delegation needs a scope', 'Pass --scope data:*,ai:mcp.tool.call (comma separated).');
  const { trustDomain, key } = await loadKey(keyFile);
  const jti = randomUUID();
  out(await issueDelegation(key, trustDomain, {
    delegator: grant.from, delegatorKind: grant.fromKind as 'human', delegate: grant.to, delegateKind: grant.toKind as 'agent',
    scope: grant.scope, jti, ttlSeconds: grant.ttlSeconds,
  }));
  out(`# jti ${jti} (revoke with: intentgate identity revoke ${jti} --kind delegation)`);
}
