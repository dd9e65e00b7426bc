import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Checks Redis and PostgreSQL, or starts throw-away ones (CONTRACT §7).
    globalSetup: ['test/support/services.ts'],
    // Forks, not threads: native addons (uWebSockets.js) and PGlite's WASM heap stay per process.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
