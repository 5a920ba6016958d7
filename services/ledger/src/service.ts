import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { Bus, consumerHealthMetrics, probeAnswer, type BatchingProducer, type BusConsumer, type BusSasl, type IncomingRecord, type Logger } from '@intentgate/bus';
import { keyringGroupPrefix, topicSpec, type Checkpoint, type Decision, type MessageName, type PolicyBundle, type Receipt, type WarrantKey } from '@intentgate/contracts';
import {
  bearerToken, listenUrl, MerkleLog, operatorKeys, receiptSignerAllowed, recordKeyId, sha256Hex, signCheckpoint, signerFor, TrustError, verifierKeyText, verifyKeyCertificate, verifyRecord, writeAuditBundle,
  type NoteSigner, type TrustedKey, type TrustRoots,
} from '@intentgate/evidence';
import { WarrantKeyring } from '@intentgate/sdk';
import { replayDecision } from '@intentgate/policy';
import { LedgerAccess, type LedgerRoute, type LedgerToken } from './access.ts';

export interface LedgerOptions {
  brokers: string[];
  /** SASL credentials for the broker (the local stack's role for this service); none on an unauthenticated cluster. */
  sasl?: BusSasl;
  registryUrl: string;
  dataDir: string;
  /** Checkpoint after this many new receipts in a log … */
  checkpointEvery?: number;
  /** … or this long after the first unchecked receipt. */
  checkpointIntervalMs?: number;
  signer?: NoteSigner;
  /**
   * The deployment's trust roots: a receipt is appended only when it is signed by an operator
   * key or by a key a root certified to sign receipts of its kind, for the producer it names.
   * Anything else is dead-lettered with its code, never appended.
   */
  trust: { roots: TrustRoots };
  httpPort?: number;
  /** Interface the HTTP API listens on: 127.0.0.1 unless configured otherwise (LEDGER_HTTP_HOST). */
  httpHost?: string;
  /**
   * API tokens (SHA-256 digests) and their roles. Receipts, replays and the export need one (see
   * access.ts); with none configured only the public routes answer.
   */
  tokens?: readonly LedgerToken[];
  groupId?: string;
  logger?: Logger;
}

export const originOf = (partition: number) => `intentgate/receipts/${partition}`;

/** How far a receipt's produced_at may run ahead of the broker's append time (clocks differ). */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/**
 * Consumes receipts in batches and appends each partition's receipts to its own Merkle log;
 * offsets are committed only after the append is fsynced. Publishes signed checkpoints and
 * serves receipts with proofs, checkpoints, consistency proofs and replays over HTTP.
 */
const WARRANT_KEYS_FILE = 'warrant-keys.json';

/** The ledger's directory holds something it did not write: it refuses to start rather than lose keys. */
export class LedgerDataError extends Error {
  readonly code = 'LEDGER_DATA_INVALID';
  readonly whatToDo = 'restore the file from a backup of the ledger directory, or move it aside to rebuild the keys from warrant.keys with a new consumer group';
}

export class LedgerService {
  readonly logs = new Map<number, MerkleLog>();
  signer!: NoteSigner;
  httpUrl = '';
  readonly #options: LedgerOptions;
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #decisions = new Map<string, { partition: number; receiptId: string }>();
  readonly #warrantKeys = new Map<string, WarrantKey>();
  /** Entries of warrant-keys.json that today's roots do not certify: kept on disk as found. */
  readonly #uncertifiedKeys: unknown[] = [];
  #producer!: BatchingProducer;
  #keyring!: WarrantKeyring;
  #operators: TrustedKey[] = [];
  #consumer: BusConsumer<MessageName> | null = null;
  #server: Server | null = null;
  #timer: NodeJS.Timeout | null = null;
  readonly #checkpointed = new Map<number, number>();
  #stopping: Promise<void> | null = null;
  #ready = false;

  private constructor(options: LedgerOptions) {
    this.#options = options;
    this.#logger = options.logger ?? pino({ level: 'info', base: { service: 'ledger' } });
    this.#bus = new Bus({ brokers: options.brokers, sasl: options.sasl, registryUrl: options.registryUrl, clientId: `ledger-${randomUUID().slice(0, 6)}`, logger: this.#logger });
  }

  /**
   * The checkpoint key lives with the logs it signs: created once in the data directory and
   * reused on every restart, so old checkpoints keep verifying under the published key.
   */
  async #loadOrCreateSigner(): Promise<NoteSigner> {
    if (this.#options.signer) return this.#options.signer;
    const path = join(this.#options.dataDir, 'ledger.key');
    let pem = await readFile(path, 'utf8').catch(() => null);
    if (pem === null) {
      pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
      await writeFile(path, pem, { mode: 0o600, flag: 'wx' }).catch(async () => {
        pem = await readFile(path, 'utf8'); // another process created it first
      });
    }
    const privateKey = createPrivateKey(pem!);
    return signerFor('ledger.intentgate.local', privateKey, createPublicKey(privateKey));
  }

  static async start(options: LedgerOptions): Promise<LedgerService> {
    const ledger = new LedgerService(options);
    try {
      await ledger.#start();
    } catch (err) {
      await ledger.stop();
      throw err;
    }
    return ledger;
  }

  get dataDir(): string {
    return this.#options.dataDir;
  }

  get verifierKey(): string {
    return verifierKeyText(this.signer.name, this.signer.publicKey);
  }

  async #start(): Promise<void> {
    await mkdir(join(this.#options.dataDir, 'bundles'), { recursive: true });
    this.signer = await this.#loadOrCreateSigner();
    await writeFile(join(this.#options.dataDir, 'ledger.vkey'), `${this.verifierKey}\n`);
    await this.#loadWarrantKeys();
    for (let p = 0; p < topicSpec('receipts').partitions; p++) {
      // The decision index is derived from the logs, so a restart knows every decision they hold.
      const log = await MerkleLog.open(join(this.#options.dataDir, `receipts-${p}`), originOf(p), (entry) => this.#index(p, entry.receipt));
      this.logs.set(p, log);
      this.#checkpointed.set(p, log.checkpoints.at(-1)?.tree_size ?? 0);
    }
    await this.#bus.registerSchemas();
    this.#producer = this.#bus.producer();
    this.#operators = operatorKeys(this.#options.trust.roots);
    // Certificates are checked against each receipt's time, not today's: a rebuild years later keeps its evidence.
    this.#keyring = new WarrantKeyring(this.#bus, this.#options.trust.roots, this.#logger, { atTimeOfUse: true, groupPrefix: keyringGroupPrefix('ledger') });
    await this.#keyring.start();
    this.#consumer = this.#bus.consumer<MessageName>({
      groupId: this.#options.groupId ?? 'intentgate-ledger',
      topics: ['receipts', 'policy.bundles', 'warrant.keys'],
      fromBeginning: true,
      refuse: async (r) => (r.topic === 'receipts' ? this.#checkReceipt(r.value as Receipt, Number(r.timestamp)) : null),
      handle: (records) => this.#handle(records),
    });
    await this.#consumer.start();
    this.#timer = setInterval(() => void this.checkpointAll(false).catch((err: unknown) => this.#logger.error({ err: String(err) }, 'checkpoint failed')),
      this.#options.checkpointIntervalMs ?? 2_000);
    await this.#listen(this.#options.httpPort ?? 0, this.#options.httpHost ?? '127.0.0.1');
    this.#ready = true;
  }

  /**
   * The keys kept before a restart: the consumer resumes after them and will not read them
   * again, and the exported bundle needs every key that signed a receipt in the logs. Each is
   * certified again against today's roots (the file is on disk, not signed).
   */
  async #loadWarrantKeys(): Promise<void> {
    const text = await readFile(join(this.#options.dataDir, WARRANT_KEYS_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '[]';
      throw err;
    });
    let kept: unknown;
    try {
      kept = JSON.parse(text);
    } catch {
      throw new LedgerDataError(`${WARRANT_KEYS_FILE} in ${this.#options.dataDir} is not JSON`);
    }
    if (!Array.isArray(kept)) throw new LedgerDataError(`${WARRANT_KEYS_FILE} in ${this.#options.dataDir} is not a list of keys`);
    for (const key of kept as WarrantKey[]) {
      const certified = key !== null && typeof key === 'object' && typeof key.kid === 'string' && this.#certified(key);
      if (certified && !this.#warrantKeys.has(key.kid)) this.#warrantKeys.set(key.kid, key);
      // One today's roots do not certify (a root rotated out) is not used, and not erased either.
      else if (!certified) this.#uncertifiedKeys.push(key);
    }
  }

  /** Written whole and renamed into place: a crash mid-write leaves the previous list, never half of one. */
  async #saveWarrantKeys(): Promise<void> {
    const path = join(this.#options.dataDir, WARRANT_KEYS_FILE);
    await writeFile(`${path}.tmp`, JSON.stringify([...this.#warrantKeys.values(), ...this.#uncertifiedKeys], null, 2));
    await rename(`${path}.tmp`, path);
  }

  /** Whether a root certified this key (at any time: old evidence stays verifiable). */
  #certified(key: WarrantKey): boolean {
    try {
      verifyKeyCertificate(this.#options.trust.roots.roots, key, 0);
      return !this.#options.trust.roots.revokedKeys?.includes(key.kid);
    } catch {
      return false;
    }
  }

  /** Why a receipt is not evidence of what its producer did; null when its signature says it is. */
  async #checkReceipt(receipt: Receipt, appendedAtMs: number): Promise<{ code: string; message: string } | null> {
    // The certificate is judged at the receipt's own time (receiptSignerAllowed), and that time may
    // not run past the broker's append time: no backdating a receipt to before a key's expiry.
    const resolve = (kid: string) => this.#operators.find((k) => k.kid === kid) ?? this.#keyring.get(kid, 0);
    const allowed = (k: TrustedKey) => receiptSignerAllowed(k, receipt) && Date.parse(receipt.produced_at) <= appendedAtMs + MAX_CLOCK_SKEW_MS;
    try {
      // A producer's key is published before its first receipt: one not read yet is looked for.
      const kid = recordKeyId(receipt);
      if (kid !== undefined && !resolve(kid)) await this.#keyring.lookup(kid);
      verifyRecord('Receipt', receipt, resolve, allowed);
      return null;
    } catch (err) {
      const code = err instanceof TrustError ? `RECEIPT_${err.code.replace(/^RECORD_/, '')}` : 'RECEIPT_UNVERIFIED';
      this.#logger.error({ code, receipt: receipt.receipt_id, kind: receipt.kind, producer: receipt.producer }, `receipt refused: ${(err as Error).message}`);
      return { code, message: (err as Error).message };
    }
  }

  async #handle(records: IncomingRecord<MessageName>[]): Promise<void> {
    const byPartition = new Map<number, Array<{ offset: string; receipt: Receipt }>>();
    const inBatch = new Set<string>();
    let keysChanged = false;
    for (const r of records) {
      if (r.topic === 'warrant.keys') {
        // Every certified key ever published (the keyring refused the others), so an exported
        // bundle can verify old warrants and receipts; a forged record never replaces a real one.
        const key = r.value as WarrantKey;
        if (!this.#warrantKeys.has(key.kid) && this.#certified(key)) {
          this.#warrantKeys.set(key.kid, key);
          keysChanged = true;
        }
        continue;
      }
      if (r.topic === 'policy.bundles') {
        // Kept on disk by digest for as long as the ledger lives: every receipt that names one can be replayed.
        const bundle = r.value as PolicyBundle;
        const bytes = Buffer.from(bundle.bundle, 'base64');
        if (sha256Hex(bytes) === bundle.digest) await writeFile(join(this.#options.dataDir, 'bundles', `${bundle.digest}.tar.gz`), bytes);
        continue;
      }
      const receipt = r.value as Receipt;
      // A receipt id is appended once: a re-sent receipt (an executor reporting an outcome again,
      // every worker recording the same refused activation) is the same evidence.
      if (inBatch.has(receipt.receipt_id) || [...this.logs.values()].some((log) => log.indexOf(receipt.receipt_id) !== undefined)) continue;
      inBatch.add(receipt.receipt_id);
      const list = byPartition.get(r.partition) ?? [];
      list.push({ offset: r.offset, receipt });
      byPartition.set(r.partition, list);
      this.#index(r.partition, receipt);
    }
    if (keysChanged) await this.#saveWarrantKeys();
    for (const [partition, list] of byPartition) await this.logs.get(partition)!.append(list);
    await this.checkpointAll(true);
  }

  /** Remembers where a decision's receipt is, for replay by decision id. */
  #index(partition: number, receipt: Receipt): void {
    // A reviewed escalation's final decision lives in its approval receipt.
    if (receipt.kind !== 'decision' && receipt.kind !== 'approval') return;
    const decision = (receipt.body as { decision?: Decision }).decision;
    if (decision) this.#decisions.set(decision.decision_id, { partition, receiptId: receipt.receipt_id });
  }

  /**
   * Replays a decision by id: a policy decision under its recorded bundle; a decision settled by
   * review through the escalation it settled (reviewers' answers cannot be re-run, only shown).
   */
  async #replay(decisionId: string): Promise<{ receipt: Receipt; result: Awaited<ReturnType<typeof replayDecision>> } | { status: number; code: string; message: string }> {
    const where = this.#decisions.get(decisionId);
    if (!where) return { status: 404, code: 'DECISION_NOT_FOUND', message: `no decision receipt for ${decisionId}` };
    const answer = await this.#receipt(where.receiptId);
    const found = answer !== null && 'found' in answer ? (answer.found as { receipt: Receipt }) : null;
    if (!found) return { status: 404, code: 'DECISION_NOT_FOUND', message: `the receipt of ${decisionId} is not in the logs yet` };
    if (found.receipt.kind === 'approval') {
      const escalation = (found.receipt.body as { request?: { decision_id?: string } }).request?.decision_id;
      if (!escalation || escalation === decisionId) return { status: 409, code: 'NOT_REPLAYABLE', message: 'the approval receipt names no escalation' };
      const inner = await this.#replay(escalation);
      return 'code' in inner ? inner : { receipt: found.receipt, result: inner.result };
    }
    const body = found.receipt.body as { decision: Decision; input: unknown };
    if (!body.decision.policy) return { status: 409, code: 'NOT_REPLAYABLE', message: 'this decision was not made by a policy' };
    const bundle = await readFile(join(this.#options.dataDir, 'bundles', `${body.decision.policy.bundle_digest}.tar.gz`)).catch(() => null);
    if (!bundle) return { status: 404, code: 'BUNDLE_NOT_FOUND', message: `bundle ${body.decision.policy.bundle_digest} is not in the ledger` };
    return { receipt: found.receipt, result: await replayDecision(body, bundle) };
  }

  /** Signs and publishes a checkpoint for every log with new entries (or enough of them, when `onlyIfDue`). */
  async checkpointAll(onlyIfDue: boolean): Promise<Checkpoint[]> {
    const issued: Checkpoint[] = [];
    for (const [p, log] of this.logs) {
      const last = this.#checkpointed.get(p) ?? 0;
      if (log.size === last || (onlyIfDue && log.size - last < (this.#options.checkpointEvery ?? 100))) continue;
      const cp = signCheckpoint(log.origin, log.size, log.root(), this.signer);
      await log.addCheckpoint(cp);
      this.#checkpointed.set(p, log.size);
      await this.#producer.send({ topic: 'ledger.checkpoints', key: log.origin, value: cp });
      issued.push(cp);
    }
    return issued;
  }

  /**
   * A receipt with its inclusion proof at `treeSize` (any size that holds it, up to the log's
   * own), or by default at the latest checkpoint: an auditor who holds an older checkpoint asks
   * for a proof at its size. The checkpoint of that size comes with it when there is one.
   */
  async #receipt(receiptId: string, treeSize?: number): Promise<{ found: Record<string, unknown> } | { status: number; code: string; message: string; hint: string } | null> {
    for (const [partition, log] of this.logs) {
      const index = log.indexOf(receiptId);
      if (index === undefined) continue;
      const latest = log.checkpoints.at(-1);
      const size = treeSize ?? (latest && latest.tree_size > index ? latest.tree_size : log.size);
      if (size <= index || size > log.size) {
        return { status: 400, code: 'BAD_TREE_SIZE', message: `receipt ${receiptId} is entry ${index} of ${log.origin}, which holds ${log.size}: tree_size must be in ${index + 1}..${log.size}`, hint: 'Ask at the size of a checkpoint you hold that includes the entry.' };
      }
      const checkpoint = [...log.checkpoints].reverse().find((c) => c.tree_size === size) ?? null;
      const entries = await log.entry(index);
      return {
        found: {
          log: log.origin, partition, index, receipt: entries.receipt, leaf_hash: entries.leaf_hash, tree_size: size,
          inclusion_proof: log.inclusionProof(index, size).map((h) => h.toString('hex')), checkpoint,
        },
      };
    }
    return null;
  }

  /** Which route a path is, before any access check; null: no such route. */
  static routeOf(pathname: string): LedgerRoute | null {
    const parts = pathname.split('/').filter(Boolean);
    if (pathname === '/healthz' || pathname === '/readyz' || pathname === '/metrics') return 'health';
    if (pathname === '/v1/key') return 'key';
    if (pathname === '/v1/export') return 'export';
    if (pathname === '/v1/checkpoints/latest') return 'checkpoints';
    if (parts.length === 3 && parts[0] === 'v1' && parts[1] === 'receipts') return 'receipt';
    if (parts.length === 4 && parts[0] === 'v1' && parts[1] === 'logs' && parts[3] === 'consistency') return 'consistency';
    if (parts.length === 3 && parts[0] === 'v1' && parts[1] === 'replay') return 'replay';
    return null;
  }

  async #listen(port: number, host: string): Promise<void> {
    const access = new LedgerAccess(this.#options.tokens ?? []);
    this.#server = createServer((req, res) => {
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
        res.end(JSON.stringify(body));
      };
      const url = new URL(req.url ?? '/', 'http://ledger');
      const parts = url.pathname.split('/').filter(Boolean);
      const route = async () => {
        if (req.method !== 'GET') return json(405, { code: 'METHOD_NOT_ALLOWED', message: 'only GET', hint: 'Every ledger route is a GET.' });
        const which = LedgerService.routeOf(url.pathname);
        if (which === null) return json(404, { code: 'NOT_FOUND', message: url.pathname, hint: 'See the ledger routes in the README.' });
        const refusal = access.check(which, bearerToken(req.headers.authorization));
        if (refusal) {
          const challenge: Record<string, string> = refusal.status === 401
            ? { 'www-authenticate': `Bearer realm="intentgate-ledger"${req.headers.authorization ? ', error="invalid_token"' : ''}` } : {};
          return json(refusal.status, { code: refusal.code, message: refusal.message, hint: refusal.hint }, challenge);
        }
        if (url.pathname === '/metrics') {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
          return void res.end(consumerHealthMetrics(this.#bus.consumerHealth(), 'ledger'));
        }
        if (url.pathname === '/healthz' || url.pathname === '/readyz') {
          const answer = probeAnswer(url.pathname === '/healthz' ? 'live' : 'ready', this.#bus.consumerHealth(), this.#ready && !this.#stopping);
          return json(answer.status, answer.body);
        }
        if (url.pathname === '/v1/key') return json(200, { verifier_key: this.verifierKey });
        if (url.pathname === '/v1/export') return json(200, await writeAuditBundle(this.#options.dataDir, null));
        if (url.pathname === '/v1/checkpoints/latest') {
          return json(200, [...this.logs.values()].map((l) => l.checkpoints.at(-1) ?? null).filter(Boolean));
        }
        if (parts[0] === 'v1' && parts[1] === 'receipts' && parts[2]) {
          const asked = url.searchParams.get('tree_size');
          const treeSize = asked === null ? undefined : /^[0-9]{1,15}$/.test(asked) ? Number(asked) : Number.NaN;
          if (Number.isNaN(treeSize)) return json(400, { code: 'BAD_TREE_SIZE', message: `tree_size ${asked} is not a whole number`, hint: 'Ask at the size of a checkpoint you hold that includes the entry.' });
          const answer = await this.#receipt(parts[2], treeSize);
          if (answer === null) return json(404, { code: 'RECEIPT_NOT_FOUND', message: `no receipt ${parts[2]} in the ledger` });
          return 'found' in answer ? json(200, answer.found) : json(answer.status, { code: answer.code, message: answer.message, hint: answer.hint });
        }
        if (parts[0] === 'v1' && parts[1] === 'logs' && parts[3] === 'consistency') {
          const log = this.logs.get(Number(parts[2]));
          if (!log) return json(404, { code: 'LOG_NOT_FOUND', message: `no log ${parts[2]}` });
          // Both ends are the auditor's to name: a missing one is not taken as 0 or as the log's size.
          const [fromText, toText] = [url.searchParams.get('from'), url.searchParams.get('to')];
          if (fromText === null || toText === null) {
            return json(400, { code: 'RANGE_REQUIRED', message: `a consistency proof needs from and to (both tree sizes; this log holds ${log.size})`, hint: 'Ask ?from=<the size of the checkpoint you hold>&to=<the size of the newer one>.' });
          }
          const [from, to] = [/^[0-9]{1,15}$/.test(fromText) ? Number(fromText) : Number.NaN, /^[0-9]{1,15}$/.test(toText) ? Number(toText) : Number.NaN];
          if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from > to || to > log.size) {
            return json(400, { code: 'BAD_RANGE', message: `need 0 <= from <= to <= ${log.size}` });
          }
          return json(200, { log: log.origin, from, to, proof: log.consistencyProof(from, to).map((h) => h.toString('hex')) });
        }
        if (parts[0] === 'v1' && parts[1] === 'replay' && parts[2]) {
          const replay = await this.#replay(parts[2]);
          if ('code' in replay) return json(replay.status, { code: replay.code, message: replay.message });
          const { receipt, result } = replay;
          if (receipt.kind === 'decision') {
            const body = receipt.body as { decision: Decision };
            return json(200, { decision_id: parts[2], identical: result.identical, differences: result.differences, recorded: body.decision, replayed: result.replayed });
          }
          // Decided by review: the policy part (the escalation) replays; the answers are evidence, shown as recorded.
          const body = receipt.body as { decision: Decision; outcome: string; responses: unknown[]; request: { decision_id: string } };
          return json(200, {
            decision_id: parts[2], decided_by: 'review', outcome: body.outcome, responses: body.responses, recorded: body.decision,
            escalation: { decision_id: body.request.decision_id, identical: result.identical, differences: result.differences },
            identical: result.identical, differences: result.differences,
          });
        }
        return json(404, { code: 'NOT_FOUND', message: url.pathname });
      };
      route().catch((err: unknown) => json(500, { code: 'INTERNAL', message: (err as Error).message, hint: 'See the ledger logs.' }));
    });
    await new Promise<void>((resolve, reject) => this.#server!.once('error', reject).listen(port, host, resolve));
    this.httpUrl = listenUrl(host, (this.#server.address() as AddressInfo).port);
  }

  /** Idempotent: drain the batch in hand (its appends fsync, then its offsets commit), checkpoint, close. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#timer) clearInterval(this.#timer);
      await this.#consumer?.stop();
      await this.checkpointAll(false).catch(() => {});
      await this.#bus.close();
      await Promise.all([...this.logs.values()].map((l) => l.close()));
      await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
    })();
    return this.#stopping;
  }
}
