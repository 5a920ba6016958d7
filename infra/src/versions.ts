/** Everything the local stack runs, pinned. Changing one of these changes the cache key. */
export const VERSIONS = Object.freeze({
  kafka: '3.9.1',
  scala: '2.13',
  slf4jReload4j: '1.7.36',
  reload4j: '1.2.25',
  mavenDependencyPlugin: '3.8.1',
  /** Needs Java >= 21 (3.2 and later do; the 3.0/3.1 lines that ran on 17 do not resolve from Maven Central). */
  apicurio: '3.3.3',
  opa: 'v1.22.2',
});
