import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseMessage } from '@intentgate/contracts';
import {
  openNote, parseVerifierKey, signCheckpoint, signNote, signerFor, verifierKeyText, verifyCheckpoint, NoteError, leafHash, rootOf,
} from '../src/index.ts';

// The example note of Go's golang.org/x/mod/sumdb/note documentation: proves wire compatibility.
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_NOTE = 'If you think cryptography is the answer to your problem,\nthen you don\'t know what your problem is.\n\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';

function signer(name = 'ledger.intentgate.local/receipts-0') {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return signerFor(name, privateKey, publicKey);
}

describe('signed notes', () => {
  it('opens the reference example note with its published verifier key', () => {
    const opened = openNote(GO_NOTE, [parseVerifierKey(GO_VKEY)]);
    expect(opened.verifiedBy).toEqual(['PeterNeumann']);
    expect(opened.text).toMatch(/^If you think cryptography/);
  });

  it('rejects an altered text, a foreign key, and garbage', () => {
    const vkey = parseVerifierKey(GO_VKEY);
    expect(() => openNote(GO_NOTE.replace('answer', 'answers'), [vkey])).toThrow(NoteError);
    expect(() => openNote(GO_NOTE, [parseVerifierKey(verifierKeyText('PeterNeumann', signer().publicKey))])).toThrow(/no signature by a known key/);
    expect(() => openNote('no signatures at all\n', [vkey])).toThrow(/no signature block/);
  });

  it('round-trips our own notes and verifier keys', () => {
    const s = signer();
    const note = signNote('hello\nworld\n', [s]);
    expect(openNote(note, [parseVerifierKey(verifierKeyText(s.name, s.publicKey))]).verifiedBy).toEqual([s.name]);
  });
});

describe('checkpoints', () => {
  it('sign and verify; the contract accepts them; any edit fails', () => {
    const s = signer();
    const leaves = ['a', 'b', 'c'].map((x) => leafHash(Buffer.from(x)));
    const cp = signCheckpoint('intentgate/receipts/0', 3, rootOf(leaves), s);
    expect(() => parseMessage('Checkpoint', cp)).not.toThrow();
    expect(cp.note.split('\n').slice(0, 3)).toEqual(['intentgate/receipts/0', '3', rootOf(leaves).toString('base64')]);
    const verifiers = [parseVerifierKey(verifierKeyText(s.name, s.publicKey))];
    expect(verifyCheckpoint(cp, verifiers).treeSize).toBe(3);
    expect(() => verifyCheckpoint({ ...cp, tree_size: 4 }, verifiers)).toThrow(/differ from the signed text/);
    expect(() => verifyCheckpoint({ ...cp, note: cp.note.replace('\n3\n', '\n4\n') }, verifiers)).toThrow(/does not verify/);
    const other = signer();
    const replaced = signCheckpoint('intentgate/receipts/0', 3, rootOf(leaves), other);
    expect(() => verifyCheckpoint(replaced, verifiers)).toThrow(/no signature by a known key/);
  });
});
