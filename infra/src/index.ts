export { startStack, type StackInfo, type RunningStack, type StartStackOptions, type Source } from './stack.ts';
export { readStackEnv, type StackEnv } from './config.ts';
export { writeStackFile, readStackFile, removeStackFile, stackFilePath, type StackFile } from './stack-file.ts';
export { ensureKafka, ensureApicurio, ensureOpa, ensureRedisServer, type Progress } from './fetch.ts';
export { StackError, type StackErrorCode } from './errors.ts';
export { VERSIONS } from './versions.ts';
export { cacheDir, projectRoot } from './paths.ts';
export { assertNodeVersion, MIN_NODE_MAJOR } from './node-version.ts';
export { isSameProcess, type ProcessRecord } from './processes.ts';
