import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sha256Hex } from '@intentgate/evidence';
import { PolicyError } from './errors.ts';
import { untarGz } from './tar.ts';

/** The rule `decision` of package intentgate.decision. */
export const DEFAULT_ENTRYPOINT = 'intentgate/decision/decision';

export interface BuiltBundle {
  bytes: Buffer;
  /** sha256 of the bundle bytes: the bundle's content address. */
  digest: string;
}

export interface BuildOptions {
  opaPath: string;
  policyDir: string;
  entrypoints?: string[];
  /** Recorded in the bundle's .manifest. */
  revision?: string;
  /**
   * The policy publisher's private key (PKCS#8 PEM file) and its key id: the bundle is signed in
   * OPA's format (.signatures.json), which workers verify before loading it.
   */
  signing?: { keyFile: string; kid: string };
}

/**
 * `opa build --bundle -t wasm`: compiles the Rego under policyDir (tests excluded) into a Wasm
 * bundle, signed when a signing key is given. Run from policyDir, so file names inside the bundle
 * do not depend on where the sources sit: the same sources give the same digest (Ed25519 is
 * deterministic, so signed bundles too).
 */
export async function buildBundle(options: BuildOptions): Promise<BuiltBundle> {
  const dir = await mkdtemp(join(tmpdir(), 'intentgate-bundle-'));
  const out = join(dir, 'bundle.tar.gz');
  const entrypoints = options.entrypoints ?? [DEFAULT_ENTRYPOINT];
  try {
    const signing = options.signing
      ? ['--signing-key', options.signing.keyFile, '--signing-alg', 'EdDSA', '--verification-key-id', options.signing.kid]
      : [];
    await promisify(execFile)(options.opaPath, [
      'build', '--bundle', '-t', 'wasm', ...entrypoints.flatMap((e) => ['-e', e]),
      '--ignore', '*_test.rego', '--revision', options.revision ?? 'dev', ...signing, '-o', out, '.',
    ], { timeout: 120_000, cwd: options.policyDir });
    const bytes = await readFile(out);
    return { bytes, digest: sha256Hex(bytes) };
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new PolicyError('BUILD_FAILED', `opa build failed: ${stderr.trim() || (err as Error).message}`, err);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface BundleContents {
  wasm: Buffer;
  data: Record<string, unknown>;
  manifest: { revision?: string; roots?: string[]; wasm?: Array<{ entrypoint: string; module: string }> };
}

/** Unpacks a bundle; anything missing or malformed is BUNDLE_CORRUPT. */
export function readBundle(bytes: Uint8Array): BundleContents {
  const files = untarGz(bytes);
  const wasm = files.get('policy.wasm');
  if (!wasm || wasm.subarray(0, 4).toString('binary') !== '\0asm') {
    throw new PolicyError('BUNDLE_CORRUPT', 'bundle has no valid policy.wasm');
  }
  const parse = (name: string): unknown => {
    const file = files.get(name);
    if (!file) return {};
    try {
      return JSON.parse(file.toString('utf8'));
    } catch (err) {
      throw new PolicyError('BUNDLE_CORRUPT', `bundle ${name} is not JSON`, err);
    }
  };
  const data = parse('data.json');
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new PolicyError('BUNDLE_CORRUPT', 'bundle data.json is not an object');
  return { wasm, data: data as Record<string, unknown>, manifest: parse('.manifest') as BundleContents['manifest'] };
}
