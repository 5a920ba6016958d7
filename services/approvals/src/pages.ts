// The reviewer pages: sign-in, pending requests (everything a reviewer needs to judge one),
// and history. Server-rendered, no framework, no inline script (the CSP forbids it).
import type { ApprovalRequest } from '@intentgate/contracts';
import { html, type Html } from './html.ts';
import { conflictOf, eligible, type Reviewer } from './review.ts';
import type { StoredRequest } from './store.ts';

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

export function layout(title: string, reviewer: Reviewer | null, csrf: string | null, body: Html, flash?: Flash | null): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · IntentGate approvals</title><link rel="stylesheet" href="/static/style.css"><script src="/static/app.js" defer></script></head>
<body><header><strong>IntentGate</strong> approvals
${reviewer ? html`<nav><a href="/">Pending</a> <a href="/history">History</a>
<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="${csrf}"><span class="who">${reviewer.name} (${reviewer.id})</span> <button type="submit">Sign out</button></form></nav>` : ''}
</header><main>
${flash ? html`<p class="flash ${flash.kind}" role="status">${flash.text}</p>` : ''}
${body}
</main></body></html>`;
}

export function loginPage(csrf: string, error: string | null): Html {
  return layout('Sign in', null, null, html`<h1>Sign in</h1>
${error ? html`<p class="flash error" role="alert">${error}</p>` : ''}
<form method="post" action="/login" class="login">
<input type="hidden" name="csrf" value="${csrf}">
<label>Reviewer <input name="reviewer" autocomplete="username" required maxlength="128"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label>
<button type="submit">Sign in</button></form>`);
}

function chain(request: ApprovalRequest): Html {
  return html`<ol class="chain">${request.intent.delegation.map((h) => html`<li><span class="principal">${h.principal}</span> <span class="kind">${h.kind}</span> <span class="scope">${h.scope.join(' ')}</span></li>`)}</ol>`;
}

/** Context keys that bind what an executor does, whatever the catalog says (it may only add to them). */
const ALWAYS_BOUND = ['rows', 'config', 'body', 'arguments'];
/** Free-form context (written by the agent) beyond this many characters is cut, with a marker saying so. */
export const CONTEXT_LIMIT = 4000;

/** The intent's context keys that bind the action, in order: the catalog's binds, then the fixed ones. */
export function boundKeys(request: ApprovalRequest): string[] {
  const context = request.intent.context;
  const keys = [...new Set([...(request.basis?.binds ?? []), ...ALWAYS_BOUND])];
  return keys.filter((k) => Object.hasOwn(context, k));
}

const json = (value: unknown) => JSON.stringify(value, null, 2) ?? String(value);

/**
 * Everything the action acts on is shown in full and first; the agent's free-form context
 * after it, cut at CONTEXT_LIMIT with a marker outside the agent's text. Never cut silently.
 */
function contextOf(request: ApprovalRequest): Html {
  const bound = boundKeys(request);
  const rest = Object.fromEntries(Object.entries(request.intent.context).filter(([k]) => !bound.includes(k)));
  const args = bound.length === 0 ? html`` : html`<dl class="bound">${bound.map((k) => html`<dt><code>${k}</code></dt><dd><pre class="bound-arg" data-key="${k}">${json(request.intent.context[k])}</pre></dd>`)}</dl>`;
  if (Object.keys(rest).length === 0) return html`${args}${bound.length === 0 ? html`<p class="note">No context.</p>` : ''}`;
  const text = json(rest);
  let cut = Math.min(text.length, CONTEXT_LIMIT);
  // Never split a surrogate pair.
  if (cut < text.length && cut > 0 && /[\uD800-\uDBFF]/.test(text[cut - 1]!)) cut -= 1;
  const more = text.length - cut;
  return html`${args}<p class="label">${bound.length > 0 ? 'Other context (written by the agent)' : 'Context (written by the agent)'}</p><pre class="context">${text.slice(0, cut)}</pre>${more > 0 ? html`<p class="truncated" role="note">truncated: ${more} more characters (full text in the audit record)</p>` : ''}`;
}

/** " (the agent said X)" where the agent's claim differs from the fact shown. */
function claimed(fact: unknown, claim: unknown): Html {
  if (claim === undefined || claim === fact) return html``;
  const text = typeof claim === 'string' ? claim : JSON.stringify(claim);
  // A claim is agent-written: a long one must not bury the facts around it.
  if (text.length <= 200) return html` <span class="claim">(the agent said ${text})</span>`;
  return html` <span class="claim">(the agent said ${text.slice(0, 200)}… <span class="truncated">truncated: ${text.length - 200} more characters</span>)</span>`;
}

function agentOf(request: ApprovalRequest): Html {
  const { intent, basis } = request;
  const said = intent.subject.properties.autonomy;
  if (!basis) return html`(autonomy <span class="autonomy">${said}</span> <span class="claim">as the agent said; not checked against the agent registry</span>)`;
  if (!basis.agent) return html`(<strong class="unregistered">not in the agent registry</strong> <span class="claim">(the agent said autonomy ${said})</span>)`;
  return html`(autonomy <span class="autonomy">${basis.agent.autonomy ?? 'unknown'}</span>${claimed(basis.agent.autonomy, said)}${basis.agent.owner ? html` · owner <span class="owner">${basis.agent.owner}</span>` : ''})`;
}

function resourceOf(request: ApprovalRequest): Html {
  const { intent, basis } = request;
  const props = intent.resource.properties;
  if (!basis) {
    const sensitivity = request.sensitivity ?? props.sensitivity;
    return html` · sensitivity <span class="sensitivity">${sensitivity}</span>${claimed(sensitivity, props.sensitivity)}${props.environment !== undefined ? html` · environment <span class="environment">${typeof props.environment === 'string' ? props.environment : JSON.stringify(props.environment)}</span> <span class="claim">as the agent said; not checked</span>` : ''}`;
  }
  const { resource } = basis;
  return html` · sensitivity <span class="sensitivity">${resource.sensitivity}</span>${claimed(resource.sensitivity, props.sensitivity)}${resource.labelled ? '' : html` · <strong class="unlabelled">not labelled in the context store</strong>`} · environment <span class="environment">${resource.environment}</span>${claimed(resource.environment, props.environment)}`;
}

/** Whether the action can be undone as it was decided (the catalog's word), the agent's claim beside it. */
function reversibility(request: StoredRequest['request']): Html {
  const reversible = request.basis?.action?.reversible ?? request.intent.action.reversible;
  const shown = reversible ? html`reversible` : html`<strong class="irreversible">irreversible</strong>`;
  return html`${shown}${reversible !== request.intent.action.reversible ? html` <span class="claim">(the agent said ${request.intent.action.reversible ? 'reversible' : 'irreversible'})</span>` : ''}${request.basis?.action ? '' : html` <span class="claim">as the agent said; not checked against the action catalog</span>`}`;
}

function details(item: StoredRequest): Html {
  const { request } = item;
  const { intent } = request;
  return html`<dl>
<dt>Agent</dt><dd><span class="agent">${intent.subject.id}</span> ${agentOf(request)}</dd>
<dt>On behalf of</dt><dd>${chain(request)}</dd>
<dt>Action</dt><dd><span class="action">${intent.action.name}</span> in ${intent.action.domain} · ${reversibility(request)}</dd>
<dt>Resource</dt><dd><span class="resource">${intent.resource.type} ${intent.resource.id}</span>${resourceOf(request)}</dd>
<dt>Why review</dt><dd><ul class="reasons">${request.reasons.map((r) => html`<li><code>${r.code}</code> ${r.message}</li>`)}</ul></dd>
<dt>Session</dt><dd>${intent.session.id} · step ${intent.session.workflow_step} · asked by ${intent.session.request_source}</dd>
<dt>Details</dt><dd class="details">${contextOf(request)}</dd>
<dt>Intent</dt><dd><code class="intent-id">${intent.intent_id}</code> · digest <code class="digest" title="${request.intent_digest}">${request.intent_digest.slice(0, 16)}…</code></dd>
${request.policy ? html`<dt>Policy</dt><dd>${request.policy.version} (${request.policy.bundle_digest.slice(0, 12)}…)</dd>` : ''}
</dl>`;
}

function answers(item: StoredRequest): Html {
  if (item.responses.length === 0) return html``;
  return html`<ul class="answers">${item.responses.map((r) => html`<li><strong>${r.reviewer}</strong> ${r.answer === 'approve' ? 'approved' : 'denied'} at <time>${r.responded_at}</time>${r.comment ? html`: “${r.comment}”` : ''}</li>`)}</ul>`;
}

function answerForm(item: StoredRequest, reviewer: Reviewer, csrf: string): Html {
  const { request } = item;
  const mine = item.responses.find((r) => r.reviewer === reviewer.id);
  if (mine) return html`<p class="note">You ${mine.answer === 'approve' ? 'approved' : 'denied'} this request; waiting for other reviewers.</p>`;
  if (!eligible(request, reviewer)) return html`<p class="note">Policy named other reviewers for this request: ${request.reviewers.join(', ')}.</p>`;
  const conflict = conflictOf(request, reviewer);
  return html`<form method="post" action="/requests/${request.decision_id}/answer" class="answer">
<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="intent_digest" value="${request.intent_digest}">
<label>Comment (optional) <textarea name="comment" maxlength="4096" rows="2"></textarea></label>
${conflict ? html`<p class="note">You are part of this intent's delegation chain (${conflict}), so you cannot approve it; you may deny it.</p>` : ''}
<button type="submit" name="answer" value="approve" class="approve"${conflict ? html` disabled` : ''}>Approve</button>
<button type="submit" name="answer" value="deny" class="deny">Deny</button>
</form>`;
}

export function pendingPage(reviewer: Reviewer, csrf: string, items: readonly StoredRequest[], nowMs: number, flash: Flash | null): Html {
  const body = items.length === 0
    ? html`<h1 class="pending">Pending requests</h1><p class="empty">Nothing is waiting for review.</p>`
    : html`<h1 class="pending">Pending requests <span class="count">${items.length}</span></h1>
${items.map((item) => {
    const { request } = item;
    const approvals = item.responses.filter((r) => r.answer === 'approve').length;
    const left = Math.max(0, Math.floor((Date.parse(request.deadline) - nowMs) / 1000));
    return html`<section class="request" data-request="${request.decision_id}" data-intent="${request.intent_id}">
<h2><span class="action">${request.intent.action.name}</span> · <span class="resource">${request.intent.resource.id}</span></h2>
<p class="deadline">Decide within <time data-deadline="${request.deadline}">${left}s</time> (deadline ${request.deadline}); denied if unanswered. Approvals ${approvals} of ${request.quorum} needed.</p>
${details(item)}
${answers(item)}
${answerForm(item, reviewer, csrf)}
</section>`;
  })}`;
  return layout('Pending', reviewer, csrf, body, flash);
}

export function historyPage(reviewer: Reviewer, csrf: string, items: readonly StoredRequest[]): Html {
  const body = html`<h1>History</h1>
${items.length === 0 ? html`<p class="empty">No request has been settled yet.</p>` : html`<table class="history"><thead><tr><th>Settled</th><th>Action</th><th>Resource</th><th>Agent</th><th>Outcome</th><th>Answers</th></tr></thead><tbody>
${items.map((item) => html`<tr data-request="${item.request.decision_id}" data-intent="${item.request.intent_id}"><td><time>${item.settledAt}</time></td><td>${item.request.intent.action.name}</td><td>${item.request.intent.resource.id}</td><td>${item.request.intent.subject.id}</td>
<td class="outcome ${item.verdict}">${item.verdict} <code>${item.reason}</code></td><td>${answers(item)}</td></tr>`)}
</tbody></table>`}`;
  return layout('History', reviewer, csrf, body);
}

export function errorPage(status: number, code: string, message: string, hint: string): Html {
  return layout(`Error ${status}`, null, null, html`<h1>${code}</h1><p>${message}</p><p class="hint">${hint}</p><p><a href="/">Back</a></p>`);
}

export const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{display:flex;gap:1rem;align-items:center;justify-content:space-between;padding:.6rem 1.2rem;background:#1b1f24;color:#fff}
header a{color:#cfe3ff;margin-right:.8rem}.who{margin-right:.4rem;color:#cfd6de}
main{max-width:62rem;margin:1rem auto;padding:0 1rem}
.request{background:#fff;border:1px solid #d8dde3;border-radius:8px;padding:1rem 1.2rem;margin:1rem 0}
.request h2{margin:.1rem 0 .4rem;font-size:1.1rem;word-break:break-all}
dl{display:grid;grid-template-columns:9rem 1fr;gap:.3rem .8rem;margin:.6rem 0}dt{color:#57606a}dd{margin:0;word-break:break-word}
.chain{margin:0;padding-left:1.2rem}.kind,.scope{color:#57606a;font-size:.9em}
.irreversible{color:#b42318}.deadline{color:#8a4b00}.count{background:#1b1f24;color:#fff;border-radius:1em;padding:0 .5em;font-size:.8em}
pre.context,pre.bound-arg{background:#f2f4f7;padding:.4rem;margin:0;white-space:pre-wrap}pre.context{max-height:10rem;overflow:auto}
dl.bound{margin:0 0 .4rem;grid-template-columns:auto 1fr}pre.bound-arg{border-left:3px solid #8a4b00;font-weight:600}
.claim{color:#8a4b00}.unlabelled,.unregistered{color:#b42318}.truncated{margin:.2rem 0 0;color:#b42318;font-weight:600}.label{margin:.2rem 0;color:#57606a;font-size:.9em}
form.answer{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;border-top:1px solid #eef0f3;padding-top:.6rem}
form.answer label{flex:1 1 100%}textarea{width:100%;box-sizing:border-box}
button{font:inherit;padding:.35rem .9rem;border-radius:6px;border:1px solid #8c959f;background:#fff;cursor:pointer}
button.approve{background:#1a7f37;color:#fff;border-color:#1a7f37}button.deny{background:#cf222e;color:#fff;border-color:#cf222e}
button[disabled]{opacity:.45;cursor:not-allowed}.inline{display:inline}
.flash{padding:.5rem .8rem;border-radius:6px}.flash.ok{background:#dafbe1}.flash.error{background:#ffebe9}
.note{color:#57606a}.login{display:grid;gap:.6rem;max-width:20rem}
table.history{width:100%;border-collapse:collapse;background:#fff}table.history td,table.history th{border-bottom:1px solid #e1e4e8;padding:.4rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
.outcome.allow{color:#1a7f37}.outcome.deny{color:#cf222e}.answers{margin:.3rem 0;padding-left:1.2rem}
`;

/** Counts each deadline down once a second; the server stays the authority on the deadline. */
export const SCRIPT = `
function tick(){var now=Date.now();document.querySelectorAll('time[data-deadline]').forEach(function(t){
var s=Math.max(0,Math.floor((Date.parse(t.getAttribute('data-deadline'))-now)/1000));
t.textContent=s>=60?Math.floor(s/60)+'m '+(s%60)+'s':s+'s';if(s===0){t.textContent='expired';}});}
tick();setInterval(tick,1000);
var shown=Array.prototype.map.call(document.querySelectorAll('section.request[data-request]'),function(s){return s.getAttribute('data-request');}).sort().join(',');
if(document.querySelector('h1.pending')){setInterval(function(){fetch('/pending.json',{credentials:'same-origin'}).then(function(r){return r.ok?r.json():null;}).then(function(v){
if(!v||v.ids.slice().sort().join(',')===shown||document.getElementById('changed'))return;
var p=document.createElement('p');p.id='changed';p.className='flash ok';p.setAttribute('role','status');
var a=document.createElement('a');a.href='/';a.textContent='Pending requests changed: reload';p.appendChild(a);
document.querySelector('main').insertBefore(p,document.querySelector('main').firstChild);}).catch(function(){});},5000);}
`;
