/**
 * CI's short crash campaign: child processes SIGKILLed at seeded crash-point hits, at every named crash point and by
 * the clock, each followed by a fresh process that recovers; zero violations and at least 200 kills. And the replay
 * promise: a trial run twice from its seed kills at the same places and ends in the same database. Runs the compiled
 * child (`pnpm build` first; turbo's `test` task depends on this package's `build`).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openDatabase } from '@ledgerflow/db'
import { describe, expect, it } from 'vitest'
import { runCampaign } from '../src/crash/run-campaign.js'

const CHILD = fileURLToPath(new URL('../dist/crash/child.js', import.meta.url))

/** Every row of every table but the migration bookkeeping (its timestamp is the wall clock of the migration). */
async function everyRow(file: string): Promise<Record<string, unknown[]>> {
  const db = await openDatabase({ sqlite: file })
  try {
    const tables = db.native!.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'ledgerflow_migration%'").all() as Array<{ name: string }>
    return Object.fromEntries(tables.map((t) => [t.name, db.native!.prepare(`select * from "${t.name}" order by rowid`).all()]))
  } finally {
    await db.close()
  }
}

describe('crash campaign', () => {
  it('survives 200+ SIGKILLs with zero invariant violations and every effect exactly once', { timeout: 900_000 }, async () => {
    expect(existsSync(CHILD), 'build the package first: pnpm --filter @ledgerflow/tests build').toBe(true)
    const summary = await runCampaign({ seed: 20260101, trials: 8, killsPerTrial: 26, jobs: 2 })

    expect(summary.violations).toEqual([])
    expect(summary.kills).toBeGreaterThanOrEqual(200)
    expect(summary.recoveries).toBeGreaterThanOrEqual(summary.kills)
    expect(summary.missing.filter((k) => !k.includes('|'))).toEqual([])
  })

  it('replays a trial exactly from its seed: the same kills, the same final database', { timeout: 600_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledgerflow-replay-'))
    try {
      const replay = async (name: string) => {
        const lines: string[] = []
        const workDir = join(dir, name)
        const summary = await runCampaign({ seed: 424242, trials: 10, only: 7, killsPerTrial: 4, timedFraction: 0, keep: true, verbose: true, workDir, log: (l) => lines.push(l) })
        return { summary, kills: lines.filter((l) => l.includes(' process ')), rows: await everyRow(join(workDir, 'trial-7', 'ledgerflow.db')) }
      }
      const [first, second] = [await replay('first'), await replay('second')]

      expect(first.summary.violations).toEqual([])
      expect(first.kills).toHaveLength(4)
      expect(second.kills).toEqual(first.kills)
      expect(second.rows).toEqual(first.rows)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
