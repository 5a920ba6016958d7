import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { createPrivateKey, type KeyObject, type webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;

export interface SigningKey {
  kid: string;
  privateKey: KeyObject | CryptoKey;
  publicJwk: JWK;
}

export interface Jwks {
  keys: JWK[];
}

/** A fresh Ed25519 key with its public half as a JWK (kid, alg EdDSA, use sig). */
export async function generateSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return { kid, privateKey, publicJwk };
}

export async function exportPrivateJwk(key: SigningKey): Promise<JWK> {
  return { ...(await exportJWK(key.privateKey)), kid: key.kid, alg: 'EdDSA' };
}

/** Loads a signing key from a private JWK (as written by exportPrivateJwk). */
export async function importSigningKey(jwk: JWK): Promise<SigningKey> {
  if (!jwk.kid || jwk.crv !== 'Ed25519' || !jwk.d) throw new TypeError('expected a private Ed25519 JWK with a kid');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, format: 'jwk' });
  } catch (err) {
    throw new TypeError(`not a usable Ed25519 private JWK: ${(err as Error).message}`);
  }
  const { d: _private, ...publicJwk } = jwk;
  return { kid: jwk.kid, privateKey, publicJwk: { ...publicJwk, alg: 'EdDSA', use: 'sig' } };
}

export function jwksOf(keys: SigningKey[]): Jwks {
  return { keys: keys.map((k) => k.publicJwk) };
}
