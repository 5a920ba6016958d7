export { canonicalJson, sha256Hex, digestOf } from './canonical.ts';
export { generateSigningKey, importSigningKey, exportPrivateJwk, jwksOf, type SigningKey, type Jwks } from './keys.ts';
export { signWarrant, verifyWarrant, WarrantError, WARRANT_TYPE, type WarrantRequest, type WarrantExpectations, type WarrantRefusal } from './warrant.ts';
