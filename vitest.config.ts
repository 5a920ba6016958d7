import { defineConfig } from 'vitest/config';

// Machine-readable results for .ci/run, which prints its own "N passed, M failed" line.
const reportFile = process.env.INTENTGATE_TEST_REPORT;

export default defineConfig({
  test: {
    reporters: reportFile ? ['default', ['json', { outputFile: reportFile }]] : ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'infra/test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts', 'test/integration/**/*.test.ts'],
          exclude: ['**/node_modules/**'],
          globalSetup: ['test/harness/global-setup.ts'],
          // Real servers: generous per-test ceilings so a slow machine waits instead of failing.
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
