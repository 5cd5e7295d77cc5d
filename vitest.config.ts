import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Each package keeps its tests in its own test/ folder (the service core's is the top-level one);
    // the servers and fakes they share live in test/support/.
    include: ['test/**/*.test.ts', 'bots/*/test/**/*.test.ts', 'mail/test/**/*.test.ts', 'whisper-container/test/**/*.test.ts'],
    // Real servers and the real Whisper engine: slow on two cores, never flaky on time.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Three files at once on two cores: many tests spend their time waiting on servers and timers, not computing.
    // Beside two busy loops five runs in a row took 290-336 s this way (231 s alone); no test waits on a deadline,
    // so more overlap is safe.
    maxWorkers: 3,
  },
});
