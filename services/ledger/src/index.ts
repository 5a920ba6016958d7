export { LedgerService, LedgerDataError, originOf, type LedgerOptions } from './service.ts';
export { LedgerAccess, LEDGER_ROLES, ROUTE_ROLES, parseLedgerTokens, loadLedgerTokens, LedgerConfigError, type LedgerRole, type LedgerRoute, type LedgerToken } from './access.ts';
