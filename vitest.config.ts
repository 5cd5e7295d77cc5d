import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'whisper-container/test/**/*.test.ts', 'bots/**/*.test.ts', 'mail/**/*.test.ts'],
    // Real servers and the real Whisper engine: slow on two cores, never flaky on time.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
