import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: {
    // Tests use the testing kit's sources (packages/tests/src/kit); its own `@ledgerflow/agent` import must be this
    // package's sources too, or a test would mix two copies of the engine (src and dist).
    alias: [{ find: /^@ledgerflow\/agent$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }],
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'suite/**/*.test.ts'],
    pool: 'forks',
    passWithNoTests: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', ['json', { outputFile: 'test-output/vitest-report.json' }]],
  },
})
