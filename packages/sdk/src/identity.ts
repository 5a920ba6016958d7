import type { Intent } from '@intentgate/contracts';

/** What an agent holds: its JWT-SVID and the delegation tokens that reach it, origin first. */
export interface AgentCredentials {
  svid: string;
  delegation: string[];
}

function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * Fills in who acts and on whose behalf from the credentials: subject from the SVID, the
 * delegation chain from the tokens (the decision worker verifies all of it; this only states it).
 */
export function withCredentials(intent: Intent, credentials: AgentCredentials): Intent {
  const subject = String(claims(credentials.svid).sub);
  const tokens = credentials.delegation.map(claims);
  const first = tokens[0];
  if (!first) throw new TypeError('at least one delegation token is needed');
  const delegation: Intent['delegation'] = [
    { principal: String(first.delegator), kind: first.delegator_kind as Intent['delegation'][number]['kind'], scope: first.scope as string[] },
  ];
  for (const [i, t] of tokens.entries()) {
    if (i > 0) delegation[delegation.length - 1]!.scope = t.scope as string[];
    delegation.push({ principal: String(t.sub), kind: t.delegate_kind as Intent['delegation'][number]['kind'], scope: t.scope as string[] });
  }
  return { ...intent, subject: { ...intent.subject, id: subject }, delegation, credentials: { svid: credentials.svid, delegation: [...credentials.delegation] } };
}
