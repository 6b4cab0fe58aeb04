import { defineConfig } from 'vitest/config';

/**
 * Two projects: the pure and adapter tests keep a short timeout, so a hang shows at once; the
 * end-to-end tests run real scans on the local stack, which a busy machine makes slower, not
 * wrong, so theirs is long. A stuck scan is caught sooner by `waitForScan`, which fails when the
 * scan stops moving.
 */
export default defineConfig({
  test: {
    setupFiles: ['test/setup.ts'],
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/adapters/**/*.test.ts', 'test/infra/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'test/package/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
