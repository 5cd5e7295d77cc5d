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
    // Measured beside two busy loops: the suite in 335 s with three, 450 s with two; none waits on a deadline.
    maxWorkers: 3,
  },
});
