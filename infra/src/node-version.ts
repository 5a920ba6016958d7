import { StackError } from './errors.ts';

export const MIN_NODE_MAJOR = 24;

/** Fails with a clear message when the project's scripts run on a Node older than 24. */
export function assertNodeVersion(version = process.versions.node): void {
  const major = Number(version.split('.')[0]);
  if (major < MIN_NODE_MAJOR) {
    throw new StackError('WRONG_NODE', 'node', `running on Node ${version}; IntentGate needs Node ${MIN_NODE_MAJOR}+`,
      'Run through npm (npm start / npm test), which uses the Node 24 from node_modules/.bin, after `npm ci`; or install Node 24.');
  }
}
