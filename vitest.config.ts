import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests may use decorators (legacy flavour here; both flavours are compiled by tsc in test/decorators).
  oxc: { decorator: { legacy: true } },
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/matchers.ts'],
    testTimeout: 20000,
    hookTimeout: 600000,
    pool: 'forks',
  },
});
