// The reviewers' API from a program: what `intentgate approvals` and the demo use.
import type { ApprovalRequest, ApprovalResponse, Decision } from '@intentgate/contracts';

export interface RequestView {
  id: string;
  status: 'pending' | 'settling' | 'final';
  verdict: string | null;
  reason: string | null;
  request: ApprovalRequest;
  responses: ApprovalResponse[];
  received_at: string;
  settled_at: string | null;
}

export class ApprovalsApiError extends Error {
  readonly code: string;
  readonly hint: string;
  readonly status: number;
  constructor(status: number, code: string, message: string, hint: string) {
    super(message);
    this.name = 'ApprovalsApiError';
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

export class ApprovalsClient {
  readonly #url: string;
  readonly #token: string;

  constructor(url: string, token: string) {
    this.#url = url.replace(/\/$/, '');
    this.#token = token;
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.#url}${path}`, {
        method, signal: AbortSignal.timeout(30_000),
        headers: { authorization: `Bearer ${this.#token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new ApprovalsApiError(0, 'APPROVALS_UNREACHABLE', `cannot reach the approvals service at ${this.#url}: ${(err as Error).message}`, 'Is it running? (npm start prints its address.)');
    }
    const value = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      throw new ApprovalsApiError(res.status, String(value.code ?? `HTTP_${res.status}`), String(value.message ?? res.statusText), String(value.hint ?? ''));
    }
    return value as T;
  }

  async pending(): Promise<RequestView[]> {
    return (await this.#call<{ pending: RequestView[] }>('GET', '/api/v1/requests')).pending;
  }

  get(id: string): Promise<RequestView> {
    return this.#call('GET', `/api/v1/requests/${encodeURIComponent(id)}`);
  }

  /**
   * Answers a request. Without `intentDigest`, the digest is the one the request has now, read
   * just before answering (what a reviewer who looked at it saw).
   */
  async answer(id: string, answer: 'approve' | 'deny', options: { comment?: string; intentDigest?: string } = {}): Promise<{ status: 'recorded' | 'settled'; request: RequestView; decision?: Decision }> {
    const digest = options.intentDigest ?? (await this.get(id)).request.intent_digest;
    return this.#call('POST', `/api/v1/requests/${encodeURIComponent(id)}/answer`, {
      answer, intent_digest: digest, ...(options.comment ? { comment: options.comment } : {}),
    });
  }
}
