import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'suite/**/*.test.ts'],
    pool: 'forks',
    // Test files share a worker's module cache: loading kysely, pg and better-sqlite3 once per worker instead of once
    // per file saves most of the collect time. No test keeps state in modules (each opens its own database).
    isolate: false,
    passWithNoTests: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', ['json', { outputFile: 'test-output/vitest-report.json' }]],
  },
})
