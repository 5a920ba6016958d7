import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { jsonSchemaText, topicSpec, valueSubject, type MessageName, type TopicSpec } from '@intentgate/contracts';
import { BusError, describe } from './errors.ts';
import { silentLogger, type Logger } from './logger.ts';
import { jitteredDelay } from './backoff.ts';


/**
 * The registry client compiles each schema with Ajv when registering it. Every string format
 * in the contract also carries a `pattern`, so formats are accepted as given here.
 */
const AJV_OPTIONS = { strict: false, formats: { uuid: true as const, 'date-time': true as const } };

export interface SchemaCatalogOptions {
  /** How long one registry request may take before it is abandoned and retried (default 10 s). */
  requestTimeoutMs?: number;
  /** How many times a registration is tried before REGISTRY_UNAVAILABLE (default 4). */
  attempts?: number;
  /** Told of each retried registration. */
  logger?: Logger;
}

/** Answers a retry cannot change, with what to do about each. */
const REFUSALS: Record<number, string> = {
  401: 'The registry wants credentials for this (registering a schema: only the provisioner may): provision first (npm start, or node infra/bin/provision.ts, which registers every schema of this release), or put the provisioner\'s credentials in SCHEMA_REGISTRY_URL (http://user:password@host/...).',
  403: 'The registry refused these credentials the right to do this (registering a schema: only the provisioner may): provision first (npm start, or node infra/bin/provision.ts), or use the provisioner\'s account.',
  404: 'Check SCHEMA_REGISTRY_URL: it must be the Confluent-compatible API root (for Apicurio, .../apis/ccompat/v7).',
  422: 'The registry found the schema itself invalid; check the contract\'s JSON Schema (npm run schemas:check).',
};

/** The registry client's middleware type (mappersmith's), without depending on mappersmith. */
type Middleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number];

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_ATTEMPTS = 4;

/**
 * Gives every request of the registry client a deadline: the client sets none, and a request
 * the registry never answers (seen with Apicurio, see freshConnections) would otherwise hold a
 * start forever.
 */
function requestTimeout(ms: number): Middleware {
  // timeout: the socket's idle time once connected; signal: the whole request, connecting included.
  return () => ({ prepareRequest: (next) => next().then((request) => request.enhance({ timeout: ms, signal: AbortSignal.timeout(ms) })) });
}

/**
 * One connection per registry request. Apicurio (Quarkus/Vert.x) sometimes never answered a
 * POST that followed a GET on the same keep-alive connection: its access log shows the GET,
 * then nothing on any connection until the client gave up (npm start, 2026-12-02). Requests
 * are few (two per subject, at start), so a fresh connection each costs nothing that matters.
 */
function freshConnections(url: string): HttpAgent {
  return /^https:/i.test(url) ? new HttpsAgent({ keepAlive: false }) : new HttpAgent({ keepAlive: false });
}

/**
 * A registry URL and the credentials in it (`http://user:password@host/…`), apart: the client
 * sends them as basic auth on every request, and no message or log carries them.
 */
export function registryEndpoint(url: string): { url: string; auth?: { username: string; password: string }; headers: Record<string, string> } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, headers: {} };
  }
  if (!parsed.username && !parsed.password) return { url, headers: {} };
  const auth = { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) };
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString().replace(/\/$/, ''), auth, headers: { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } };
}

export interface RegisteredSubject {
  topic: string;
  subject: string;
  message: MessageName;
  id: number;
}

/** Registers the contract's schemas (compatibility BACKWARD) and caches the ids per topic. */
export class SchemaCatalog {
  readonly client: SchemaRegistry;
  readonly url: string;
  readonly #idByTopic = new Map<string, number>();
  readonly #knownIds = new Set<number>();

  readonly #attempts: number;
  readonly #logger: Logger;
  readonly #requestTimeoutMs: number;

  readonly #headers: Record<string, string>;
  readonly #agent: HttpAgent;

  /** `url` may carry credentials (user:password@): only the provisioner's may register schemas. */
  constructor(url: string, options: SchemaCatalogOptions = {}) {
    const endpoint = registryEndpoint(url);
    this.url = endpoint.url;
    this.#headers = endpoint.headers;
    this.#agent = freshConnections(endpoint.url);
    this.#attempts = Math.max(1, options.attempts ?? DEFAULT_ATTEMPTS);
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#logger = options.logger ?? silentLogger;
    // The client registers schemas; framing and validation are ours (see serde.ts), so values are
    // checked once, by the reader's zod contract, with messages that name the failing field.
    this.client = new SchemaRegistry(
      {
        host: endpoint.url, retry: { retries: 3 }, agent: this.#agent, ...(endpoint.auth ? { auth: endpoint.auth } : {}),
        middlewares: [requestTimeout(this.#requestTimeoutMs)],
      },
      { [SchemaType.JSON]: AJV_OPTIONS },
    );
  }

  async register(specs: readonly TopicSpec[]): Promise<RegisteredSubject[]> {
    const out: RegisteredSubject[] = [];
    for (const spec of specs) {
      const subject = valueSubject(spec.name);
      const id = await this.registerSchema(subject, jsonSchemaText(spec.value));
      this.#idByTopic.set(spec.name, id);
      this.#knownIds.add(id);
      out.push({ topic: spec.name, subject, message: spec.value, id });
    }
    return out;
  }

  /**
   * Registers one schema text under a subject; an incompatible change is a SCHEMA_INCOMPATIBLE
   * error. Registering the same text again returns the same id, so an unanswered or failed
   * request is tried again (backoff with jitter) before REGISTRY_UNAVAILABLE.
   */
  async registerSchema(subject: string, schemaText: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#registerOnce(subject, schemaText);
      } catch (err) {
        if (!(err instanceof BusError) || !err.retriable || attempt >= this.#attempts) throw err;
        this.#logger.warn({ subject, attempt, err: err.message }, 'schema registration failed; trying again');
        await jitteredDelay(200 * 2 ** (attempt - 1));
      }
    }
  }

  async #registerOnce(subject: string, schemaText: string): Promise<number> {
    // Looked up first: a registry that lets only its provisioner register answers every other
    // client's lookup, and a schema provisioned already needs nothing more.
    const found = await this.#lookup(subject, schemaText);
    if (found !== null) return found;
    try {
      const { id } = await this.client.register(
        { type: SchemaType.JSON, schema: schemaText },
        { subject, compatibility: COMPATIBILITY.BACKWARD },
      );
      return id;
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 409 || /incompatible|compatib/i.test(describe(err))) {
        throw new BusError('SCHEMA_INCOMPATIBLE', `the registry refused the schema for ${subject}: ${describe(err)}`, {
          retriable: false,
          hint: 'Make the change backward compatible (add optional fields only) or register it under a new subject.',
          cause: err,
        });
      }
      const refused = REFUSALS[status ?? 0];
      if (refused) throw new BusError('REGISTRY_REFUSED', `the registry at ${this.url} refused ${subject} (HTTP ${status}): ${describe(err)}`, { retriable: false, hint: refused, cause: err });
      throw new BusError('REGISTRY_UNAVAILABLE', `cannot register ${subject} at ${this.url}: ${describe(err)}`, {
        retriable: true, hint: 'Check SCHEMA_REGISTRY_URL and that the registry answers /subjects.', cause: err,
      });
    }
  }

  /** The id of this exact schema under the subject, or null when the registry does not hold it. */
  async #lookup(subject: string, schemaText: string): Promise<number | null> {
    let answer: { status: number; body: string };
    try {
      answer = await this.#post(`/subjects/${encodeURIComponent(subject)}`, JSON.stringify({ schemaType: 'JSON', schema: schemaText }));
    } catch (err) {
      throw new BusError('REGISTRY_UNAVAILABLE', `cannot look up ${subject} at ${this.url}: ${describe(err)}`, {
        retriable: true, hint: 'Check SCHEMA_REGISTRY_URL and that the registry answers /subjects.', cause: err,
      });
    }
    if (answer.status === 404) return null;
    const refused = REFUSALS[answer.status];
    if (refused) throw new BusError('REGISTRY_REFUSED', `the registry at ${this.url} refused a lookup of ${subject} (HTTP ${answer.status})`, { retriable: false, hint: refused });
    let id: unknown;
    try {
      id = answer.status === 200 ? (JSON.parse(answer.body) as { id?: unknown }).id : undefined;
    } catch {
      id = undefined;
    }
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
      throw new BusError('REGISTRY_UNAVAILABLE', `cannot look up ${subject} at ${this.url}: HTTP ${answer.status}`, {
        retriable: true, hint: 'Check SCHEMA_REGISTRY_URL and that the registry answers /subjects.',
      });
    }
    return id;
  }

  /** One POST on a connection of its own (see freshConnections), with this catalog's credentials and deadline. */
  #post(path: string, body: string): Promise<{ status: number; body: string }> {
    const url = new URL(`${this.url}${path}`);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method: 'POST', agent: this.#agent, signal: AbortSignal.timeout(this.#requestTimeoutMs),
        headers: { ...this.#headers, 'content-type': 'application/vnd.schemaregistry.v1+json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /**
   * Checks that a schema id read off the wire exists in the registry (cached per id).
   * 404: SCHEMA_UNKNOWN (poison). Anything else: REGISTRY_UNAVAILABLE (retry, never DLQ).
   */
  async assertKnown(schemaId: number, topic: string): Promise<void> {
    if (this.#knownIds.has(schemaId)) return;
    let res: Response;
    try {
      res = await fetch(`${this.url}/schemas/ids/${schemaId}`, { headers: this.#headers, signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw new BusError('REGISTRY_UNAVAILABLE', `${topic}: schema registry did not answer: ${describe(err)}`, {
        retriable: true, hint: 'Check that the schema registry is up; the record will be retried, not dropped.', cause: err,
      });
    }
    if (res.status === 404) {
      throw new BusError('SCHEMA_UNKNOWN', `${topic}: schema id ${schemaId} is not in the registry`, {
        retriable: false, hint: 'The producer used a registry this consumer does not share; check SCHEMA_REGISTRY_URL on both.',
      });
    }
    if (!res.ok) {
      throw new BusError('REGISTRY_UNAVAILABLE', `${topic}: schema registry answered HTTP ${res.status} for schema id ${schemaId}`, {
        retriable: true, hint: 'Check the schema registry; the record will be retried, not dropped.',
      });
    }
    this.#knownIds.add(schemaId);
  }

  /** The topic's schema id, registering the topic's schema first if this process has not yet. */
  async ensureId(topic: string): Promise<number> {
    if (!this.#idByTopic.has(topic)) await this.register([topicSpec(topic)]);
    return this.idFor(topic);
  }

  /** The schema id producers frame a topic's values with; the topic must have been registered. */
  idFor(topic: string): number {
    const id = this.#idByTopic.get(topic);
    if (id === undefined) {
      throw new BusError('SCHEMA_UNKNOWN', `no schema registered for topic ${topic} in this process`, {
        retriable: false, hint: 'Call bus.registerSchemas() (or include the topic in it) before producing.',
      });
    }
    return id;
  }
}
