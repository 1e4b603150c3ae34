/**
 * Session (`script_runs`) constraints: a session is open exactly while it runs, and SPEC §3/§13.1 "at most one
 * open session per workflow, enforced by the database" (a partial unique index on workflow_id where
 * end_timestamp is null).
 */
import { expect, it } from 'vitest'
import type { LedgerflowDb, NewSession } from './index.js'
import { expectViolation } from './test-helpers/assertions.js'
import { defineStoreSuite } from './test-helpers/backends.js'
import { NOW, type SeededWorkflow, seedWorkflow, sessionRow, sessionState } from './test-helpers/seed.js'

const ONE_OPEN = { postgres: 'script_runs_one_open_per_workflow', sqlite: 'script_runs.workflow_id' }
const OPEN_IFF_RUNNING = { postgres: 'script_runs_open_iff_running', sqlite: 'script_runs_open_iff_running' }

defineStoreSuite('schema: session constraints', (env) => {
  const insert = (db: LedgerflowDb, w: SeededWorkflow, id: string, over: Partial<NewSession> = {}) =>
    db.kysely.insertInto('script_runs').values(sessionRow(w, id, over)).execute()

  it('refuses a running session with an end_timestamp and a finished one without', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    await expectViolation(insert(db, w, 's1', { status: 'running', end_timestamp: NOW + 1 }), 'check', OPEN_IFF_RUNNING)
    for (const status of ['completed', 'failed', 'suspended'] as const) {
      await expectViolation(insert(db, w, `s-${status}`, { status, end_timestamp: null }), 'check', OPEN_IFF_RUNNING)
    }
    await insert(db, w, 'ok-running', sessionState('running'))
    await insert(db, w, 'ok-done', sessionState('completed'))
  })

  it('refuses a session that ends before it starts', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    await expectViolation(insert(db, w, 's', { status: 'completed', end_timestamp: NOW - 1 }), 'check', {
      postgres: 'script_runs_end_after_start',
      sqlite: 'script_runs_end_after_start',
    })
  })

  it('refuses reopening a session by clearing its end_timestamp without running status', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    await insert(db, w, 's', sessionState('completed'))
    await expectViolation(
      db.kysely.updateTable('script_runs').set({ end_timestamp: null }).where('id', '=', 's').execute(),
      'check',
      OPEN_IFF_RUNNING,
    )
  })

  it('refuses a second open session of the same workflow', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    await insert(db, w, 's1')
    await expectViolation(insert(db, w, 's2'), 'unique', ONE_OPEN)
    expect((await db.sessions.listOpen()).map((s) => s.id)).toEqual(['s1'])
  })

  it('accepts a new open session next to closed ones of the same workflow', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    await insert(db, w, 's1', sessionState('completed'))
    await insert(db, w, 's2', sessionState('failed'))
    await insert(db, w, 's3')
    expect((await db.sessions.getOpen(w.workflowId))?.id).toBe('s3')
  })

  it('accepts one open session in each of two workflows', async () => {
    const { db } = env()
    const a = await seedWorkflow(db, 'wf-a')
    const b = await seedWorkflow(db, 'wf-b')
    await insert(db, a, 'sa')
    await insert(db, b, 'sb')
    expect((await db.sessions.listOpen()).map((s) => s.id).sort()).toEqual(['sa', 'sb'])
  })

  it('refuses reopening a closed session while another one is open', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    await insert(db, w, 'old', sessionState('completed'))
    await insert(db, w, 'open')
    await expectViolation(
      db.kysely.updateTable('script_runs').set({ status: 'running', end_timestamp: null }).where('id', '=', 'old').execute(),
      'unique',
      ONE_OPEN,
    )
  })

  it('refuses negative counters and costs', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    await expectViolation(insert(db, w, 's1', { cost: -1 }), 'check')
    await expectViolation(insert(db, w, 's2', { handler_run_count: -1 }), 'check')
    await expectViolation(insert(db, w, 's3', { max_iterations: -1 }), 'check')
  })
})
