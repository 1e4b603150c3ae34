/**
 * The CHECKs that tie a run's columns together, and SPEC §13.1 "at most one active run per workflow" (a partial
 * unique index over active, waiting and paused runs).
 */
import { expect, it } from 'vitest'
import type { LedgerflowDb, NewHandlerRun } from './index.js'
import { expectViolation } from './test-helpers/assertions.js'
import { defineStoreSuite } from './test-helpers/backends.js'
import { NOW, type World, runRow, runState, seedSession, seedWorkflow, sessionState } from './test-helpers/seed.js'

defineStoreSuite('schema: handler run constraints', (env) => {
  /** A workflow with a closed session; no run yet. */
  async function setUp(workflowId = 'wf-1'): Promise<{ db: LedgerflowDb; w: Omit<World, 'runId'> }> {
    const { db } = env()
    const seeded = await seedWorkflow(db, workflowId)
    const sessionId = await seedSession(db, seeded, `${workflowId}-session`, sessionState('completed'))
    return { db, w: { ...seeded, sessionId } }
  }
  let ordinal = 0
  const insert = (db: LedgerflowDb, w: Omit<World, 'runId'>, id: string, over: Partial<NewHandlerRun>) =>
    db.kysely.insertInto('handler_runs').values(runRow(w, id, { ordinal: ++ordinal, ...over })).execute()

  it('refuses a consumer phase on a producer run and a producer phase on a consumer run', async () => {
    const { db, w } = await setUp()
    const producer = { handler_type: 'producer', handler_name: 'poll' } as const
    await expectViolation(insert(db, w, 'p-bad', { ...producer, phase: 'preparing' }), 'check', {
      postgres: 'handler_runs_phase_fits_type',
      sqlite: 'handler_runs_phase_fits_type',
    })
    await expectViolation(insert(db, w, 'c-bad', { phase: 'executing' }), 'check', {
      postgres: 'handler_runs_phase_fits_type',
      sqlite: 'handler_runs_phase_fits_type',
    })
    await insert(db, w, 'p-ok', { ...producer, phase: 'executing' })
    await db.runs.transition('p-ok', {}, { status: 'failed', end_timestamp: NOW + 1 })
    await insert(db, w, 'c-ok', { phase: 'preparing' })
    expect((await db.runs.get('p-ok'))?.phase).toBe('executing')
    expect((await db.runs.get('c-ok'))?.phase).toBe('preparing')
  })

  it('refuses moving a producer run into a consumer phase by an update', async () => {
    const { db, w } = await setUp()
    await insert(db, w, 'p', { handler_type: 'producer', handler_name: 'poll', phase: 'executing' })
    await expectViolation(db.runs.transition('p', { phase: 'executing' }, { phase: 'prepared' }), 'check', {
      postgres: 'handler_runs_phase_fits_type',
      sqlite: 'handler_runs_phase_fits_type',
    })
    expect((await db.runs.get('p'))?.phase).toBe('executing')
  })

  it('refuses status committed without phase committed, and phase committed without status committed', async () => {
    const { db, w } = await setUp()
    const name = { postgres: 'handler_runs_committed_iff_phase', sqlite: 'handler_runs_committed_iff_phase' }
    await expectViolation(insert(db, w, 'r1', { ...runState('committed'), phase: 'emitting' }), 'check', name)
    await expectViolation(insert(db, w, 'r2', { ...runState('failed'), phase: 'committed' }), 'check', name)
    await insert(db, w, 'r3', runState('committed'))
    expect(await db.runs.get('r3')).toMatchObject({ phase: 'committed', status: 'committed' })
  })

  it('refuses a waiting run without retry_at', async () => {
    const { db, w } = await setUp()
    await expectViolation(insert(db, w, 'r1', { ...runState('waiting'), retry_at: null }), 'check', {
      postgres: 'handler_runs_waiting_has_retry_at',
      sqlite: 'handler_runs_waiting_has_retry_at',
    })
    await insert(db, w, 'r2', { ...runState('waiting'), retry_at: NOW + 5_000 })
    expect((await db.runs.get('r2'))?.retry_at).toBe(NOW + 5_000)
  })

  it('refuses an end_timestamp on an unfinished run and a finished run without one', async () => {
    const { db, w } = await setUp()
    const name = { postgres: 'handler_runs_ended_iff_finished', sqlite: 'handler_runs_ended_iff_finished' }
    for (const status of ['active', 'waiting', 'paused'] as const) {
      await expectViolation(insert(db, w, `open-${status}`, { ...runState(status), end_timestamp: NOW + 1 }), 'check', name)
    }
    for (const status of ['failed', 'committed'] as const) {
      await expectViolation(insert(db, w, `done-${status}`, { ...runState(status), end_timestamp: null }), 'check', name)
    }
    await insert(db, w, 'ok-failed', runState('failed'))
    await insert(db, w, 'ok-active', runState('active'))
  })

  it('refuses finishing a run by an update that forgets the end_timestamp', async () => {
    const { db, w } = await setUp()
    await insert(db, w, 'r', runState('active'))
    await expectViolation(db.runs.transition('r', { status: 'active' }, { status: 'failed' }), 'check', {
      postgres: 'handler_runs_ended_iff_finished',
      sqlite: 'handler_runs_ended_iff_finished',
    })
    expect(await db.runs.transition('r', { status: 'active' }, { status: 'failed', end_timestamp: NOW + 2 })).toBe(true)
  })

  it('refuses a run that retries itself', async () => {
    const { db, w } = await setUp()
    await expectViolation(insert(db, w, 'r', { ...runState('failed'), retry_of: 'r' }), 'check', {
      postgres: 'handler_runs_not_own_retry',
      sqlite: 'handler_runs_not_own_retry',
    })
  })

  it('refuses a second unfinished run of a workflow, whatever mix of active, waiting and paused', async () => {
    const { db, w } = await setUp()
    const index = { postgres: 'handler_runs_one_unfinished_per_workflow', sqlite: 'handler_runs.workflow_id' }
    for (const first of ['active', 'waiting', 'paused'] as const) {
      await insert(db, w, `first-${first}`, runState(first))
      for (const second of ['active', 'waiting', 'paused'] as const) {
        await expectViolation(insert(db, w, `second-${first}-${second}`, runState(second)), 'unique', index)
      }
      await db.kysely.deleteFrom('handler_runs').where('id', '=', `first-${first}`).execute()
    }
  })

  it('refuses moving a second run of a workflow back to active by an update', async () => {
    const { db, w } = await setUp()
    await insert(db, w, 'a', runState('active'))
    await insert(db, w, 'b', runState('failed'))
    await expectViolation(
      db.runs.transition('b', { status: 'failed' }, { status: 'active', end_timestamp: null }),
      'unique',
      { postgres: 'handler_runs_one_unfinished_per_workflow', sqlite: 'handler_runs.workflow_id' },
    )
  })

  it('accepts a new active run once the previous one finished, and one active run in each of two workflows', async () => {
    const { db, w } = await setUp()
    const { w: other } = await setUp('wf-2')
    await insert(db, w, 'a1', runState('active'))
    await insert(db, other, 'b1', runState('active'))
    expect(await db.runs.transition('a1', { status: 'active' }, { ...runState('committed') })).toBe(true)
    await insert(db, w, 'a2', runState('paused'))
    expect((await db.runs.listUnfinished(w.workflowId)).map((r) => r.id)).toEqual(['a2'])
    expect((await db.runs.listUnfinished(other.workflowId)).map((r) => r.id)).toEqual(['b1'])
    // Any number of finished runs.
    await insert(db, w, 'f1', runState('failed'))
    await insert(db, w, 'f2', runState('committed'))
  })
})
