// The reviewer web page and the reviewers' JSON API, on node:http. The page: sign-in with a
// rate limit, server-side sessions, a CSRF token on every form (and an Origin check), a strict
// CSP. The API: bearer tokens, for the CLI and automation.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@intentgate/bus';
import type { Html } from './html.ts';
import { errorPage, historyPage, loginPage, pendingPage, SCRIPT, STYLE } from './pages.ts';
import { AnswerRefused } from './review.ts';
import { accountByToken, verifyPassword, type ReviewerAccount } from './reviewers.ts';
import { LoginLimiter, randomToken, sameToken, Sessions, type Session } from './sessions.ts';
import type { ApprovalsService } from './service.ts';
import type { StoredRequest } from './store.ts';
import { LookupError } from './service.ts';

export interface Web {
  url: string;
  close(): Promise<void>;
}

const SESSION_COOKIE = 'ig_session';
const LOGIN_COOKIE = 'ig_login';
const MAX_BODY = 16 * 1024;
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // Not no-referrer: with it, Chromium sends `Origin: null` on the page's own form posts, which the origin check refuses.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly hint: string;
  constructor(status: number, code: string, message: string, hint: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'BODY_TOO_LARGE', `request bodies are limited to ${MAX_BODY} bytes`, 'Send a shorter comment.');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function form(req: IncomingMessage): Promise<URLSearchParams> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'forms are sent as application/x-www-form-urlencoded', 'Submit the form from the page.');
  }
  return new URLSearchParams(await body(req));
}

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await body(req);
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // falls through to the typed error
  }
  throw new HttpError(400, 'INVALID_JSON', 'the body is not a JSON object', 'Send {"answer":"approve"|"deny","intent_digest":"…","comment":"…"}.');
}

export async function startWeb(service: ApprovalsService, options: { port: number; host: string; secureCookies: boolean; logger: Logger }): Promise<Web> {
  const sessions = new Sessions();
  const limiter = new LoginLimiter();
  const accounts = new Map(service.reviewers.map((r) => [r.id, r]));
  const secure = options.secureCookies ? '; Secure' : '';

  const send = (res: ServerResponse, status: number, type: string, text: string, headers: Record<string, string | string[]> = {}) => {
    res.writeHead(status, { 'content-type': type, ...SECURITY_HEADERS, ...headers });
    res.end(text);
  };
  const page = (res: ServerResponse, status: number, doc: Html, headers: Record<string, string | string[]> = {}) => send(res, status, 'text/html; charset=utf-8', doc.text, headers);
  const json = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) => send(res, status, 'application/json', JSON.stringify(value), headers);
  const redirect = (res: ServerResponse, to: string, headers: Record<string, string | string[]> = {}) => {
    res.writeHead(303, { location: to, ...SECURITY_HEADERS, ...headers });
    res.end();
  };

  const sessionOf = (req: IncomingMessage): { session: Session; reviewer: ReviewerAccount } | null => {
    const session = sessions.get(cookies(req).get(SESSION_COOKIE));
    const reviewer = session ? accounts.get(session.reviewerId) : undefined;
    return session && reviewer ? { session, reviewer } : null;
  };

  /** Same-origin check for state-changing page requests, on top of the CSRF token. */
  const sameOrigin = (req: IncomingMessage) => {
    if (req.headers['sec-fetch-site'] === 'cross-site' || req.headers['sec-fetch-site'] === 'same-site') return false;
    const origin = req.headers.origin;
    return origin === undefined || origin === 'null' ? origin === undefined : new URL(origin).host === req.headers.host;
  };

  const checkCsrf = (req: IncomingMessage, expected: string, given: string | null) => {
    if (!sameOrigin(req) || !sameToken(expected, given ?? undefined)) {
      throw new HttpError(403, 'CSRF_REJECTED', 'the form did not come from this page (missing or wrong CSRF token, or another origin)', 'Reload the page and try again.');
    }
  };

  async function loginForm(req: IncomingMessage, res: ServerResponse, error: string | null, status = 200): Promise<void> {
    // Reuse the token this browser already holds, so a second tab (or a redirected favicon) does not invalidate the first form.
    const held = cookies(req).get(LOGIN_COOKIE);
    const token = held && /^[A-Za-z0-9_-]{43}$/.test(held) ? held : randomToken();
    page(res, status, loginPage(token, error), { 'set-cookie': `${LOGIN_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/login; Max-Age=600${secure}` });
  }

  async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const f = await form(req);
    checkCsrf(req, cookies(req).get(LOGIN_COOKIE) ?? '', f.get('csrf'));
    const id = (f.get('reviewer') ?? '').trim().slice(0, 128);
    const keys = [`ip:${req.socket.remoteAddress ?? '?'}`, `reviewer:${id.toLowerCase()}`];
    const wait = limiter.retryAfterMs(keys);
    if (wait > 0) {
      service.loginFailures.inc({ why: 'rate_limited' });
      const seconds = Math.ceil(wait / 1000);
      return loginForm(req, res, `Too many failed sign-ins. Try again in ${seconds} s.`, 429).then(() => undefined);
    }
    const account = accounts.get(id);
    const ok = await verifyPassword(f.get('password') ?? '', account?.password);
    if (!ok || !account) {
      limiter.fail(keys);
      service.loginFailures.inc({ why: 'bad_credentials' });
      options.logger.warn({ reviewer: id, from: req.socket.remoteAddress }, 'failed reviewer sign-in');
      return loginForm(req, res, 'Unknown reviewer or wrong password.', 401);
    }
    limiter.succeed(keys);
    const session = sessions.create(account.id);
    options.logger.info({ reviewer: account.id }, 'reviewer signed in');
    redirect(res, '/', { 'set-cookie': [`${SESSION_COOKIE}=${session.id}; HttpOnly; SameSite=Strict; Path=/${secure}`, `${LOGIN_COOKIE}=; Path=/login; Max-Age=0`] });
  }

  async function answerFromPage(req: IncomingMessage, res: ServerResponse, id: string, who: { session: Session; reviewer: ReviewerAccount }): Promise<void> {
    const f = await form(req);
    checkCsrf(req, who.session.csrf, f.get('csrf'));
    const answer = f.get('answer');
    if (answer !== 'approve' && answer !== 'deny') throw new HttpError(400, 'ANSWER_INVALID', 'the answer is approve or deny', 'Use the Approve or Deny button.');
    try {
      const outcome = await service.answer(who.reviewer, id, answer, f.get('intent_digest') ?? '', f.get('comment') ?? undefined);
      const what = `${answer === 'approve' ? 'Approved' : 'Denied'} ${outcome.request.request.intent.action.name} on ${outcome.request.request.intent.resource.id}`;
      who.session.flash = { kind: 'ok', text: outcome.status === 'settled' ? `${what}: final decision ${outcome.decision.verdict} (${outcome.decision.reasons[0]!.code}).` : `${what}: recorded, waiting for more approvals.` };
    } catch (err) {
      if (!(err instanceof AnswerRefused || err instanceof LookupError)) throw err;
      who.session.flash = { kind: 'error', text: `${err.code}: ${err.message}. ${err.hint}` };
    }
    redirect(res, '/');
  }

  async function api(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const auth = req.headers.authorization ?? '';
    const account = auth.startsWith('Bearer ') ? accountByToken(service.reviewers, auth.slice(7).trim()) : null;
    if (!account) {
      return json(res, 401, { code: 'UNAUTHENTICATED', message: 'a reviewer API token is required', hint: 'Send Authorization: Bearer <token> (see `intentgate approvals token`).' }, { 'www-authenticate': 'Bearer' });
    }
    if (req.method === 'GET' && path === '/api/v1/requests') return json(res, 200, { reviewer: account.id, pending: service.pending().map(view) });
    const m = /^\/api\/v1\/requests\/([A-Za-z0-9-]{1,64})(\/answer)?$/.exec(path);
    if (!m) throw new HttpError(404, 'NOT_FOUND', `no such endpoint: ${path}`, 'See GET /api/v1/requests.');
    if (req.method === 'GET' && !m[2]) return json(res, 200, view(service.find(m[1]!)));
    if (req.method === 'POST' && m[2]) {
      const b = await jsonBody(req);
      if (b.answer !== 'approve' && b.answer !== 'deny') throw new HttpError(400, 'ANSWER_INVALID', 'answer must be "approve" or "deny"', 'Send {"answer":"approve","intent_digest":"…"}.');
      if (typeof b.intent_digest !== 'string') throw new HttpError(400, 'DIGEST_REQUIRED', 'intent_digest is required: an answer is about the exact intent you reviewed', 'GET the request first and send back its intent_digest.');
      const comment = typeof b.comment === 'string' ? b.comment : undefined;
      const outcome = await service.answer(account, m[1]!, b.answer, b.intent_digest, comment);
      return json(res, 200, { status: outcome.status, request: view(outcome.request), ...(outcome.status === 'settled' ? { decision: outcome.decision } : {}) });
    }
    throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not served on ${path}`, 'GET a request, or POST to …/answer.');
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/healthz' || path === '/readyz') {
      const answer = service.probe(path === '/healthz' ? 'live' : 'ready');
      return json(res, answer.status, answer.body);
    }
    if (path === '/.well-known/jwks.json') return json(res, 200, service.jwks);
    if (path === '/metrics') return send(res, 200, service.metrics.contentType, await service.metricsText());
    if (path === '/static/style.css') return send(res, 200, 'text/css; charset=utf-8', STYLE, { 'cache-control': 'public, max-age=300' });
    if (path === '/favicon.ico') return send(res, 204, 'image/x-icon', '', { 'cache-control': 'public, max-age=86400' });
    if (path === '/static/app.js') return send(res, 200, 'text/javascript; charset=utf-8', SCRIPT, { 'cache-control': 'public, max-age=300' });
    if (path.startsWith('/api/')) return api(req, res, path);
    if (path === '/login') {
      if (req.method === 'GET') return loginForm(req, res, null);
      if (req.method === 'POST') return login(req, res);
    }
    const who = sessionOf(req);
    if (!who) {
      if (req.method === 'GET') return redirect(res, '/login');
      throw new HttpError(401, 'SIGNED_OUT', 'your session has ended', 'Sign in again.');
    }
    if (path === '/logout' && req.method === 'POST') {
      checkCsrf(req, who.session.csrf, (await form(req)).get('csrf'));
      sessions.destroy(who.session.id);
      return redirect(res, '/login', { 'set-cookie': `${SESSION_COOKIE}=; Path=/; Max-Age=0` });
    }
    if (path === '/' && req.method === 'GET') {
      const flash = who.session.flash ?? null;
      delete who.session.flash;
      return page(res, 200, pendingPage(who.reviewer, who.session.csrf, service.pending(), Date.now(), flash));
    }
    // What the page polls, so a reviewer learns of new or settled requests without losing a half-typed comment.
    if (path === '/pending.json' && req.method === 'GET') return json(res, 200, { ids: service.pendingIds() });
    if (path === '/history' && req.method === 'GET') return page(res, 200, historyPage(who.reviewer, who.session.csrf, service.history()));
    const m = /^\/requests\/([A-Za-z0-9-]{1,64})\/answer$/.exec(path);
    if (m && req.method === 'POST') return answerFromPage(req, res, m[1]!, who);
    throw new HttpError(404, 'NOT_FOUND', `no page at ${path}`, 'Go to the pending list.');
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      const known = err instanceof HttpError ? err
        : err instanceof AnswerRefused ? new HttpError(409, err.code, err.message, err.hint)
          : err instanceof LookupError ? new HttpError(err.code === 'APPROVAL_NOT_FOUND' ? 404 : 409, err.code, err.message, err.hint)
            : null;
      if (!known) options.logger.error({ err: (err as Error).message, path: req.url }, 'approvals request failed');
      const e = known ?? new HttpError(500, 'INTERNAL', 'the request could not be handled', 'Try again; the service logs say why.');
      if (res.headersSent) return res.end();
      const wantsJson = (req.url ?? '').startsWith('/api/') || !(req.headers.accept ?? '').includes('text/html');
      if (wantsJson) json(res, e.status, { code: e.code, message: e.message, hint: e.hint });
      else page(res, e.status, errorPage(e.status, e.code, e.message, e.hint));
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(options.port, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${port}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** What the API shows of a request. */
function view(item: StoredRequest): Record<string, unknown> {
  return {
    id: item.request.decision_id, status: item.status, verdict: item.verdict, reason: item.reason,
    request: item.request, responses: item.responses, received_at: item.receivedAt, settled_at: item.settledAt,
  };
}
