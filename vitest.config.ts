import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{proto,sdk,agent-host,supervisor,ebpf-helper}/test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'int',
          include: ['{proto,sdk,agent-host,supervisor,ebpf-helper}/test/**/*.int.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'containment',
          include: ['test/containment/**/*.containment.test.ts'],
          exclude: ['test/containment/noisy-neighbour.containment.test.ts', '**/node_modules/**'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        // Latency bounds measured against a quiet baseline: run after every other project, alone,
        // so that other test files' daemons do not land in one phase and not the other.
        test: {
          name: 'containment-timing',
          include: ['test/containment/noisy-neighbour.containment.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
