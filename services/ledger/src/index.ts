export { LedgerService, originOf, type LedgerOptions } from './service.ts';
