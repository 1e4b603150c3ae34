/**
 * CI's scaled-down load run (the full one is `pnpm --filter @ledgerflow/tests load`): 50 workflows × 20 events
 * through one worker with no loss and no duplicate, and 50 sessions left open by a killed process recovered.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { runRecovery, runThroughput } from '../src/load/run-load.js'

describe('load', () => {
  it('consumes 50 workflows × 20 events through one worker with no loss and no duplicate', { timeout: 600_000 }, async () => {
    const report = await runThroughput({ size: { workflows: 50, eventsPerWorkflow: 20, batch: 5 }, concurrency: 4 })

    expect(report.accounting).toMatchObject({ events: 1000, consumed: 1000, lost: 0, duplicates: 0, problems: [] })
    expect(report.violations).toEqual([])
  })

  it('recovers 50 sessions a killed process left open, each with an in_flight mutation', { timeout: 600_000 }, async () => {
    const child = fileURLToPath(new URL('../dist/load/open-sessions-child.js', import.meta.url))
    expect(existsSync(child), 'build the package first: pnpm --filter @ledgerflow/tests build').toBe(true)

    const report = await runRecovery({ sessions: 50 })

    expect(report).toMatchObject({ openAtKill: 50, inFlightAtKill: 50, resumed: 50, openAfter: 0, inFlightAfter: 0, violations: [] })
  })
})
