// First step of npm start / npm test. Plain JavaScript on purpose: it must run, and explain,
// on whatever Node the user has, including one too old to run the project's TypeScript.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `error WRONG_NODE: the project's scripts are running on Node ${process.versions.node}; IntentGate needs Node 24+.\n` +
      '  what to do: run `npm ci` (it installs Node 24 into node_modules/.bin, which npm scripts use),\n' +
      '  then use `npm start` / `npm test`; or install Node 24 yourself.',
  );
  process.exit(1);
}
