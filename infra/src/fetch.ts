// Fetches (once) what the local stack runs, into the cache. Each step is idempotent: it works
// in a scratch directory and renames it into place, so an interrupted fetch leaves nothing
// half-made that a later run would trust.
import { access, mkdir, mkdtemp, readdir, rename, rm, writeFile, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir } from './paths.ts';
import { run, tail } from './exec.ts';
import { StackError } from './errors.ts';
import { VERSIONS } from './versions.ts';
import { findJava, findJavas, type JavaRuntime } from './java.ts';

export type Progress = (message: string) => void;

async function exists(path: string): Promise<boolean> {
  return access(path, constants.F_OK).then(() => true, () => false);
}

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(() => true, () => false);
}

/** Builds `target` through `make(scratch)` unless it is already there. */
async function once(target: string, make: (scratch: string) => Promise<void>): Promise<string> {
  if (await exists(target)) return target;
  const parent = join(target, '..');
  await mkdir(parent, { recursive: true });
  const scratch = await mkdtemp(join(parent, '.partial-'));
  try {
    await make(scratch);
    await rename(scratch, target).catch(async (err: NodeJS.ErrnoException) => {
      // Someone else finished first: theirs is as good as ours.
      if (!(await exists(target))) throw err;
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return target;
}

async function which(tool: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    if (await executable(join(dir, tool))) return join(dir, tool);
  }
  return null;
}

async function requireTool(tool: string, component: string, install: string): Promise<string> {
  const path = await which(tool);
  if (path === null) throw new StackError('TOOL_MISSING', component, `\`${tool}\` is not on PATH`, install);
  return path;
}

function mavenArgs(): string[] {
  return ['-B', '-q', `-Dmaven.repo.local=${join(cacheDir(), 'm2')}`];
}

const KAFKA_POM = (v = VERSIONS) => `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.intentgate</groupId><artifactId>kafka-runtime</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_${v.scala}</artifactId><version>${v.kafka}</version>
      <exclusions><exclusion><groupId>ch.qos.logback</groupId><artifactId>*</artifactId></exclusion></exclusions></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>${v.slf4jReload4j}</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>${v.reload4j}</version></dependency>
  </dependencies>
</project>
`;

/** Kafka's broker jars and their runtime dependencies, from Maven Central. Returns the libs directory. */
export async function ensureKafka(progress: Progress = () => {}): Promise<string> {
  const target = join(cacheDir(), `kafka-${VERSIONS.scala}-${VERSIONS.kafka}`);
  await once(target, async (scratch) => {
    const mvn = await requireTool('mvn', 'kafka', 'Install Maven (Debian: apt-get install maven) and a Java 17+ runtime.');
    progress(`fetching Kafka ${VERSIONS.kafka} jars from Maven Central`);
    await writeFile(join(scratch, 'pom.xml'), KAFKA_POM());
    const r = await run(mvn, [
      ...mavenArgs(), '-f', join(scratch, 'pom.xml'),
      `org.apache.maven.plugins:maven-dependency-plugin:${VERSIONS.mavenDependencyPlugin}:copy-dependencies`,
      '-DincludeScope=runtime', `-DoutputDirectory=${join(scratch, 'libs')}`,
    ], { timeoutMs: 15 * 60_000 });
    if (r.code !== 0) {
      throw new StackError('FETCH_FAILED', 'kafka', `could not fetch org.apache.kafka:kafka_${VERSIONS.scala}:${VERSIONS.kafka} with Maven:\n${tail(r.stdout + r.stderr)}`,
        'Check that Maven Central is reachable (mvn -v; a proxy in ~/.m2/settings.xml) and try again.');
    }
    const jars = await readdir(join(scratch, 'libs'));
    if (!jars.some((j) => j.startsWith(`kafka_${VERSIONS.scala}-`))) {
      throw new StackError('FETCH_FAILED', 'kafka', 'Maven finished but the Kafka jar is not among the copied dependencies', 'Delete the cache directory and try again.');
    }
  });
  return join(target, 'libs');
}

export interface ApicurioRuntime {
  version: string;
  jar: string;
  java: JavaRuntime;
}

/** Apicurio Registry (Confluent-compatible API), from Maven Central, matched to the newest Java found. */
export async function ensureApicurio(progress: Progress = () => {}): Promise<ApicurioRuntime> {
  const java = await findJava(21);
  if (java === null) {
    const found = (await findJavas()).map((j) => `${j.major} (${j.path})`).join(', ') || 'none';
    throw new StackError('TOOL_MISSING', 'schema-registry', `Apicurio Registry ${VERSIONS.apicurio} needs Java 21+; found: ${found}`,
      'Install a JDK 21+ (e.g. Temurin) and set JAVA_HOME to it, or set SCHEMA_REGISTRY_URL to a running Confluent-compatible registry.');
  }
  const version = VERSIONS.apicurio;
  const target = join(cacheDir(), `apicurio-registry-${version}`);
  await once(target, async (scratch) => {
    const mvn = await requireTool('mvn', 'schema-registry', 'Install Maven (Debian: apt-get install maven).');
    progress(`fetching Apicurio Registry ${version} from Maven Central`);
    const r = await run(mvn, [
      ...mavenArgs(),
      `org.apache.maven.plugins:maven-dependency-plugin:${VERSIONS.mavenDependencyPlugin}:copy`,
      `-Dartifact=io.apicurio:apicurio-registry-app:${version}:tar.gz:all`, `-DoutputDirectory=${scratch}`,
    ], { timeoutMs: 15 * 60_000 });
    const archive = join(scratch, `apicurio-registry-app-${version}-all.tar.gz`);
    if (r.code !== 0 || !(await exists(archive))) {
      throw new StackError('FETCH_FAILED', 'schema-registry', `could not fetch io.apicurio:apicurio-registry-app:${version}:tar.gz:all:\n${tail(r.stdout + r.stderr)}`,
        'Check that Maven Central is reachable and try again.');
    }
    const x = await run('tar', ['-xzf', archive, '-C', scratch]);
    if (x.code !== 0) throw new StackError('FETCH_FAILED', 'schema-registry', `could not unpack ${archive}: ${tail(x.stderr)}`, 'Delete the cache directory and try again.');
    await rm(archive);
  });
  for (const jar of [join(target, 'quarkus-run.jar'), join(target, 'quarkus-app', 'quarkus-run.jar')]) {
    if (await exists(jar)) return { version, jar, java };
  }
  throw new StackError('FETCH_FAILED', 'schema-registry', `no quarkus-run.jar in ${target}`, `Delete ${target} and try again.`);
}

/** `opa`, built from the Go module proxy at the pinned version (or OPA_PATH when set). */
export async function ensureOpa(progress: Progress = () => {}): Promise<string> {
  if (process.env.OPA_PATH) {
    if (!(await executable(process.env.OPA_PATH))) {
      throw new StackError('TOOL_MISSING', 'opa', `OPA_PATH=${process.env.OPA_PATH} is not an executable`, 'Point OPA_PATH at an opa binary, or unset it.');
    }
    return process.env.OPA_PATH;
  }
  const target = join(cacheDir(), `opa-${VERSIONS.opa}`);
  await once(target, async (scratch) => {
    const go = await requireTool('go', 'opa', 'Install Go 1.24+ (https://go.dev/dl or Debian golang), or set OPA_PATH to an opa binary.');
    progress(`building opa ${VERSIONS.opa} with go install (a few minutes, once)`);
    const r = await run(go, ['install', `github.com/open-policy-agent/opa@${VERSIONS.opa}`], {
      timeoutMs: 30 * 60_000,
      env: {
        ...process.env,
        GOBIN: scratch,
        CGO_ENABLED: '0',
        GOMODCACHE: join(cacheDir(), 'go', 'mod'),
        GOCACHE: join(cacheDir(), 'go', 'build'),
        GOFLAGS: '-mod=mod',
      },
    });
    if (r.code !== 0) {
      throw new StackError('FETCH_FAILED', 'opa', `go install github.com/open-policy-agent/opa@${VERSIONS.opa} failed:\n${tail(r.stdout + r.stderr)}`,
        'Check that the Go module proxy is reachable (go env GOPROXY) and try again, or set OPA_PATH.');
    }
  });
  return join(target, 'opa');
}

/** Debian's redis-server: on PATH, or installed with apt-get when we are allowed to. */
export async function ensureRedisServer(progress: Progress = () => {}): Promise<string> {
  const found = (await which('redis-server')) ?? ((await executable('/usr/bin/redis-server')) ? '/usr/bin/redis-server' : null);
  if (found) return found;
  const hint = 'Install it: apt-get install redis-server (or set REDIS_URL to a running Redis).';
  if (process.getuid?.() !== 0 || (await which('apt-get')) === null) {
    throw new StackError('TOOL_MISSING', 'redis', 'redis-server is not installed', hint);
  }
  progress('installing redis-server with apt-get');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = await run('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], { env, timeoutMs: 10 * 60_000 });
  if (r.code !== 0) {
    await run('apt-get', ['update'], { env, timeoutMs: 10 * 60_000 });
    r = await run('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], { env, timeoutMs: 10 * 60_000 });
  }
  if (r.code !== 0) throw new StackError('FETCH_FAILED', 'redis', `apt-get install redis-server failed:\n${tail(r.stdout + r.stderr)}`, hint);
  return (await which('redis-server')) ?? '/usr/bin/redis-server';
}
