export { canonicalJson, sha256Hex, digestOf } from './canonical.ts';
export { generateSigningKey, importSigningKey, exportPrivateJwk, jwksOf, type SigningKey, type Jwks } from './keys.ts';
export { signWarrant, verifyWarrant, warrantKeyId, WarrantError, WARRANT_TYPE, type WarrantRequest, type WarrantExpectations, type WarrantRefusal } from './warrant.ts';
export { EMPTY_ROOT, leafHash, nodeHash, rootOf, inclusionProof, consistencyProof, verifyInclusion, verifyConsistency, type Hash } from './merkle.ts';
export { signNote, openNote, noteKeyId, verifierKeyText, parseVerifierKey, signerFor, rawPublicKey, NoteError, type NoteSigner, type NoteVerifier } from './note.ts';
export { checkpointText, parseCheckpointText, signCheckpoint, verifyCheckpoint } from './checkpoint.ts';
export { MerkleLog, LogCorrupt, receiptLeafHash, readFrames, encodeFrame, ENTRIES_FILE, CHECKPOINTS_FILE, type LogEntry } from './merkle-log.ts';
export { verifyLogDirectory, verifyLogData, type LogVerification, type Problem } from './verify-log.ts';
export { readAuditBundle, writeAuditBundle, AUDIT_BUNDLE_FORMAT, type AuditBundle } from './audit-bundle.ts';
export { issueSvid, issueDelegation, verifySvid, verifyDelegationChain, scopeCovers, trustDomainOf, IdentityError, SVID_AUDIENCE, DELEGATION_TYPE, type IdentityRefusal, type TrustBundles, type VerifiedHop, type DelegationGrant } from './identity.ts';
export { tokenDigest, newBearerToken, bearerToken, TokenDigests, SHA256_HEX, listenUrl } from './bearer.ts';
export {
  certifyKey, verifyKeyCertificate, signRecord, withSignature, verifyRecord, verifyCertifiedRecord, assertNotRevoked, recordKeyId, CERT_HEADER, verifyOperatorRecord, operatorKeys, signedDigestOf,
  generateTrustMaterial, certifiedSigner, receiptSignerAllowed, verifyReceiptSigners, publicJwkOf, privateKeyPem, TrustError, KEY_CERT_TYPE, RECORD_SIGNATURE_TYPE, KEY_USES,
  type TrustRoots, type TrustedKey, type KeyAuthority, type KeyUse, type PublicKeyJwk, type CertifiedSigner, type TrustMaterial, type TrustRefusal, type CertifyOptions,
} from './trust.ts';
export {
  loadTrustFile, loadSigner, loadPrivateKey, loadServiceTrust, writeSigner, revokeKey, ensureTrustMaterial, ensureLocalTrustDomain, certifyService, trustPaths, trustRootsOf, SERVICE_AUTHORITIES,
  type TrustPaths, type ServiceName,
} from './trust-files.ts';
