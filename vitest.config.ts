import { defineConfig } from 'vitest/config';

// Dawn runs fine in forks; one device per worker process. Two workers match CI's two cores.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    // The IR verifier runs after every compiler pass in every test that compiles a model.
    env: { SDMOEC_VERIFY: '1' },
  },
});
