import { randomUUID } from 'node:crypto';
import type { Bus, BusConsumer, IncomingRecord, Logger } from '@intentgate/bus';
import type { WarrantKey } from '@intentgate/contracts';
import { assertNotRevoked, TrustError, verifyKeyCertificate, type Jwks, type KeyUse, type TrustRoots, type TrustedKey } from '@intentgate/evidence';

/**
 * The keys published on `warrant.keys` that a deployment root certified: anyone who can write
 * the topic can publish a key, so a key counts only when its certificate verifies against a
 * root this process was configured with. Every other key is refused (dead-lettered with its
 * code, logged and counted), and never used.
 */
export class WarrantKeyring {
  readonly #bus: Bus;
  readonly #roots: TrustRoots;
  readonly #logger: Logger | undefined;
  readonly #keys = new Map<string, TrustedKey>();
  /** Highest offset read, per partition. */
  readonly #seen = new Map<number, bigint>();
  #consumer: BusConsumer<'WarrantKey'> | null = null;
  /** Key ids looked for after reading warrant.keys to its end, and not found: signed by nobody certified. */
  readonly #unknown = new Set<string>();
  /** Keys refused since start, by reason code. */
  readonly refused = new Map<string, number>();

  readonly #atTimeOfUse: boolean;
  readonly #deadLetter: boolean;

  /**
   * With `atTimeOfUse`, a certificate that has expired by now is still admitted (its expiry kept
   * on the key): for readers of evidence, which check it against the time the record was made.
   */
  readonly #groupPrefix: string;

  /** `groupPrefix`: its consumer group's prefix, its role's own (access catalog: keyringGroupPrefix). */
  constructor(bus: Bus, roots: TrustRoots, logger?: Logger, options: { atTimeOfUse?: boolean; deadLetter?: boolean; groupPrefix?: string } = {}) {
    this.#groupPrefix = options.groupPrefix ?? 'intentgate-keyring-';
    this.#bus = bus;
    this.#roots = roots;
    this.#logger = logger;
    this.#atTimeOfUse = options.atTimeOfUse ?? false;
    // Readers whose role may not write bus.dlq (agent clients) only log and count what they refuse.
    this.#deadLetter = options.deadLetter ?? true;
  }

  /** Verifies a published key record; its refusal as a reason, or null when it is accepted. */
  admit(record: WarrantKey): { code: string; message: string } | null {
    try {
      const trusted = verifyKeyCertificate(this.#roots.roots, record, this.#atTimeOfUse ? 0 : undefined);
      assertNotRevoked(this.#roots, trusted.kid);
      // The first certified record for a key id stays: a later one cannot widen or replace it.
      if (!this.#keys.has(trusted.kid)) this.#keys.set(trusted.kid, trusted);
      else if (this.#keys.get(trusted.kid)!.key.export({ format: 'jwk' }).x !== trusted.key.export({ format: 'jwk' }).x) {
        throw new TrustError('KEY_CERT_MISMATCH', `key id ${trusted.kid} is already certified for another key`);
      }
      return null;
    } catch (err) {
      const code = err instanceof TrustError ? err.code : 'KEY_CERT_MALFORMED';
      const message = (err as Error).message;
      this.refused.set(code, (this.refused.get(code) ?? 0) + 1);
      this.#logger?.warn({ code, kid: record.kid, issuer: record.issuer }, `warrant key refused: ${message}`);
      return { code, message };
    }
  }

  async start(): Promise<void> {
    this.#consumer = this.#bus.consumer<'WarrantKey'>({
      groupId: `${this.#groupPrefix}${randomUUID()}`, topics: ['warrant.keys'], fromBeginning: true,
      ...(this.#deadLetter ? {
        refuse: async (r: IncomingRecord<'WarrantKey'>) => {
          this.#mark(r.partition, r.offset);
          return this.admit(r.value);
        },
      } : {}),
      handle: async (records) => {
        for (const r of records) {
          if (!this.#deadLetter) this.admit(r.value);
          this.#mark(r.partition, r.offset);
        }
      },
    });
    await this.#consumer.start();
  }

  #mark(partition: number, offset: string): void {
    const o = BigInt(offset);
    if (o > (this.#seen.get(partition) ?? -1n)) this.#seen.set(partition, o);
  }

  /** A certified key by id, while its certificate vouches for it. */
  get(kid: string, now = Math.floor(Date.now() / 1000)): TrustedKey | undefined {
    const key = this.#keys.get(kid);
    return key && (key.expiresAt === null || key.expiresAt > now) ? key : undefined;
  }

  /**
   * A certified key by id, reading warrant.keys to its end first when it is not known yet (a
   * key is published before anything it signs). An id still unknown after that is remembered,
   * so a stream of records signed by nobody costs one catch-up per key id, not one each.
   */
  async lookup(kid: string): Promise<TrustedKey | undefined> {
    const known = this.get(kid, this.#atTimeOfUse ? 0 : undefined);
    if (known || this.#unknown.has(kid)) return known;
    const complete = await this.caughtUp();
    const found = this.get(kid, this.#atTimeOfUse ? 0 : undefined);
    // Remembered only after reading to the end: a catch-up that timed out proves nothing.
    if (!found && complete) {
      if (this.#unknown.size >= 10_000) this.#unknown.clear(); // bounded: ids come from outside
      this.#unknown.add(kid);
    }
    return found;
  }

  /** The keys that may sign `use`, as a JWKS (for warrant verification), held by one of `principals` when given. */
  jwks(use: KeyUse, principals?: readonly string[]): Jwks {
    const now = Math.floor(Date.now() / 1000);
    return {
      keys: [...this.#keys.values()]
        .filter((k) => k.uses.includes(use) && (principals === undefined || principals.includes(k.principal)) && (k.expiresAt === null || k.expiresAt > now))
        .map((k) => ({ ...(k.key.export({ format: 'jwk' }) as object), kid: k.kid, alg: 'EdDSA', use: 'sig' })),
    };
  }

  /**
   * Resolves once every key published before this call has been read (or after `timeoutMs`,
   * returning false): a signer unknown after that is not certified, not merely late.
   */
  async caughtUp(timeoutMs = 10_000): Promise<boolean> {
    const ends = await this.#bus.endOffsets('warrant.keys');
    const deadline = Date.now() + timeoutMs;
    // Keys are published without transactions, so the last record sits at high-1.
    const done = () => [...ends].every(([p, high]) => high === 0n || (this.#seen.get(p) ?? -1n) >= high - 1n);
    while (!done()) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  stop(): Promise<void> {
    return this.#consumer?.stop() ?? Promise.resolve();
  }
}
