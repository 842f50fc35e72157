import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Browser specs run one file at a time against the one broker e2e/run.mjs started.
export default defineConfig({
  resolve: {
    alias: { '@': fileURLToPath(new URL('../src', import.meta.url)) },
  },
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['e2e/specs/**/*.spec.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // expect.poll waits for the page like a locator does (1 s is too short on a busy CI machine).
    expect: { poll: { timeout: 10_000, interval: 100 } },
  },
});
