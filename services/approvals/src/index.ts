export { ApprovalsService, LookupError, APPROVALS_GROUP, APPROVALS_ISSUER, type ApprovalsOptions, type AnswerOutcome } from './service.ts';
export { AnswerRefused, checkAnswer, settle, conflictOf, eligible, derivedId, type Reviewer, type Settlement, type AnswerRefusalCode } from './review.ts';
export { finalDecision, finalRecords, type FinalSettings } from './final.ts';
export { hashPassword, verifyPassword, newToken, tokenDigest, parseReviewers, loadReviewers, type ReviewerAccount } from './reviewers.ts';
export { ApprovalsClient, ApprovalsApiError } from './client.ts';
export { escapeHtml, html } from './html.ts';
