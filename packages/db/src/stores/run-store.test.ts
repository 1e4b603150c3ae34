import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, runRow, runState, seedRun, seedSession, seedWorkflow, seedWorld, sessionState } from '../test-helpers/seed.js'

defineStoreSuite('run store: transition', (env) => {
  it('returns false and changes nothing when the phase guard does not match', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    const before = await db.runs.get(w.runId)
    expect(await db.runs.transition(w.runId, { phase: 'prepared' }, { phase: 'mutating' })).toBe(false)
    expect(await db.runs.transition(w.runId, { phase: ['pending', 'mutating'] }, { phase: 'mutating' })).toBe(false)
    expect(await db.runs.get(w.runId)).toEqual(before)
  })

  it('returns false when the status guard does not match', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    expect(await db.runs.transition(w.runId, { status: 'waiting' }, { phase: 'prepared' })).toBe(false)
    expect(await db.runs.transition(w.runId, { status: ['paused', 'failed'] }, { phase: 'prepared' })).toBe(false)
    expect((await db.runs.get(w.runId))?.phase).toBe('preparing')
  })

  it('returns false when the phase matches but the status does not, and the other way round', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    expect(await db.runs.transition(w.runId, { phase: 'preparing', status: 'paused' }, { phase: 'prepared' })).toBe(false)
    expect(await db.runs.transition(w.runId, { phase: 'prepared', status: 'active' }, { phase: 'prepared' })).toBe(false)
    expect((await db.runs.get(w.runId))?.phase).toBe('preparing')
  })

  it('applies when phase and status are each one of the listed values', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    const applied = await db.runs.transition(
      w.runId,
      { phase: ['pending', 'preparing'], status: ['active', 'waiting'] },
      { phase: 'prepared', prepare_result: '{"data":1}' },
    )
    expect(applied).toBe(true)
    expect(await db.runs.get(w.runId)).toMatchObject({ phase: 'prepared', status: 'active', prepare_result: '{"data":1}' })
  })

  it('applies with a single phase and status, and without a guard', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    expect(await db.runs.transition(w.runId, { phase: 'preparing', status: 'active' }, { phase: 'prepared' })).toBe(true)
    expect(await db.runs.transition(w.runId, {}, { ...runState('waiting'), attempt: 2 })).toBe(true)
    expect(await db.runs.get(w.runId)).toMatchObject({ status: 'waiting', attempt: 2, retry_at: NOW + 1_000 })
  })

  it('lets exactly one of two racing transitions from the same phase apply', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    const results = await Promise.all([
      db.runs.transition(w.runId, { phase: 'preparing' }, { phase: 'prepared' }),
      db.runs.transition(w.runId, { phase: 'preparing' }, { phase: 'prepared' }),
    ])
    expect(results.sort()).toEqual([false, true])
  })

  it('returns false and changes nothing when a guard list is empty', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    expect(await db.runs.transition(w.runId, { phase: [] }, { phase: 'prepared' })).toBe(false)
    expect(await db.runs.transition(w.runId, { phase: 'preparing', status: [] }, { phase: 'prepared' })).toBe(false)
    expect((await db.runs.get(w.runId))?.phase).toBe('preparing')
  })

  it('sets only the columns given, and leaves a column given as undefined as it is', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    // The same guard and columns twice (one compiled statement), then another set of columns and another guard.
    expect(await db.runs.transition(w.runId, { phase: 'preparing' }, { phase: 'prepared', error: 'first' })).toBe(true)
    expect(await db.runs.transition(w.runId, { phase: 'prepared' }, { phase: 'mutating', error: 'second' })).toBe(true)
    expect(await db.runs.transition(w.runId, { phase: ['mutating', 'mutated'], status: 'active' }, { error: undefined, attempt: 3 })).toBe(true)
    expect(await db.runs.get(w.runId)).toMatchObject({ phase: 'mutating', error: 'second', attempt: 3 })
  })

  it('returns false for an unknown run', async () => {
    const { db } = env()
    expect(await db.runs.transition('nope', {}, { phase: 'prepared' })).toBe(false)
  })
})

defineStoreSuite('run store: reads and counters', (env) => {
  it('lists a session runs by ordinal and counts only the consumer ones', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const sessionId = await seedSession(db, w)
    const ctx = { ...w, sessionId }
    await seedRun(db, ctx, 'r2', { ordinal: 2, handler_type: 'producer', handler_name: 'poll', phase: 'committed', ...runState('committed') })
    await seedRun(db, ctx, 'r1', { ordinal: 1, ...runState('committed') })
    await seedRun(db, ctx, 'r3', { ordinal: 3 })
    expect((await db.runs.listBySession(sessionId)).map((r) => r.id)).toEqual(['r1', 'r2', 'r3'])
    expect(await db.runs.countConsumerRuns(sessionId)).toBe(2)
    expect(await db.runs.countConsumerRuns('empty-session')).toBe(0)
    // The next run of the session takes the ordinal after the highest, whatever order the rows were written in.
    const { ordinal: _ordinal, ...next } = runRow(ctx, 'r4', runState('committed'))
    expect(await db.runs.insertNext(next)).toBe(4)
  })

  it('inserts the next run of a session with the next ordinal and counts it in the session', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const sessionId = await seedSession(db, w)
    const { ordinal: _ordinal, ...row } = runRow({ ...w, sessionId }, 'first', runState('committed'))
    expect(await db.runs.insertNext(row)).toBe(1)
    expect(await db.runs.insertNext({ ...row, id: 'second', ...runState('active', 'preparing') })).toBe(2)
    expect((await db.runs.listBySession(sessionId)).map((r) => [r.id, r.ordinal])).toEqual([
      ['first', 1],
      ['second', 2],
    ])
    expect((await db.sessions.get(sessionId))?.handler_run_count).toBe(2)
  })

  it('returns the inserted run exactly as reading it back does, defaults included', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const sessionId = await seedSession(db, w)
    const { ordinal: _ordinal, attempt: _attempt, cost: _cost, ...row } = runRow({ ...w, sessionId }, 'fresh', runState('active', 'preparing'))
    const inserted = await db.runs.insertNextRun({ ...row, attempt: undefined, prepare_result: '{"a":1}', retry_at: 5 })
    expect(inserted).toEqual(await db.runs.get('fresh'))
    expect(inserted).toMatchObject({ ordinal: 1, attempt: 1, cost: 0 })
  })

  it('inserts the next run seeing the workflow: its status and event sequence in the same statement on PostgreSQL', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const sessionId = await seedSession(db, w)
    await db.workflows.allocateEventSequence(w.workflowId, 3)
    const workflow = (await db.workflows.get(w.workflowId))!
    const { ordinal: _ordinal, ...row } = runRow({ ...w, sessionId }, 'seeing', runState('active', 'preparing'))
    const { run, workflow: seen } = await db.runs.insertNextRunSeeing(row)
    expect(run).toEqual(await db.runs.get('seeing'))
    expect((await db.sessions.get(sessionId))?.handler_run_count).toBe(1)
    if (db.dialect === 'postgres') expect(seen).toEqual({ status: workflow.status, eventSequence: workflow.event_sequence })
    else expect(seen).toBeUndefined()
    expect(workflow.event_sequence).toBe(3)
  })

  it('inserts nothing and counts nothing when the next run breaks a constraint', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    const { ordinal: _ordinal, ...row } = runRow(w, 'second-active')
    // The seeded run is still active: a second unfinished run of the workflow is refused.
    await expect(db.transaction((tx) => tx.runs.insertNext(row))).rejects.toThrow()
    await expect(db.runs.insertNext(row)).rejects.toThrow()
    expect((await db.runs.listBySession(w.sessionId)).map((r) => r.id)).toEqual([w.runId])
    expect((await db.sessions.get(w.sessionId))?.handler_run_count).toBe(0)
  })

  it('lists unfinished runs of a workflow and its runs newest first, filtered by status', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const sessionId = await seedSession(db, w, 's', sessionState('completed'))
    const ctx = { ...w, sessionId }
    await seedRun(db, ctx, 'old', { ordinal: 1, start_timestamp: NOW, ...runState('failed') })
    await seedRun(db, ctx, 'mid', { ordinal: 2, start_timestamp: NOW + 1, ...runState('committed') })
    await seedRun(db, ctx, 'new', { ordinal: 3, start_timestamp: NOW + 2, ...runState('paused') })
    expect((await db.runs.listUnfinished('wf-1')).map((r) => r.id)).toEqual(['new'])
    expect((await db.runs.listByWorkflow('wf-1')).map((r) => r.id)).toEqual(['new', 'mid', 'old'])
    expect((await db.runs.listByWorkflow('wf-1', { limit: 2 })).map((r) => r.id)).toEqual(['new', 'mid'])
    expect((await db.runs.listByWorkflow('wf-1', { status: 'failed' })).map((r) => r.id)).toEqual(['old'])
  })

  it('adds cost and finds the run that retried another', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.runs.addCost(w.runId, 250)
    await db.runs.addCost(w.runId, 0)
    await db.runs.addCost(w.runId, 1_000)
    expect((await db.runs.get(w.runId))?.cost).toBe(1_250)
    await db.runs.transition(w.runId, {}, runState('failed'))
    await seedRun(db, w, 'retry', { ordinal: 2, retry_of: w.runId })
    expect((await db.runs.findRetryOf(w.runId))?.id).toBe('retry')
    expect(await db.runs.findRetryOf('retry')).toBeUndefined()
  })
})
