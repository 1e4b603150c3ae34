import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'suite/**/*.test.ts', 'examples/**/*.test.mjs'],
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    passWithNoTests: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', ['json', { outputFile: 'test-output/vitest-report.json' }]],
  },
})
