import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/matchers.ts'],
    testTimeout: 20000,
    hookTimeout: 600000,
    pool: 'forks',
  },
});
