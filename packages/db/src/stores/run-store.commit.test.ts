import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, TOPIC, publishEvents, seedRun, seedWorld } from '../test-helpers/seed.js'

defineStoreSuite('run store: commit checkpoint', (env) => {
  const backend = () => env().backend
  const committed = { phase: 'committed', status: 'committed', attempt: 1, retry_at: null, error: null, error_type: null, end_timestamp: NOW + 7, output_state: '{"n":2}' } as const

  async function runWithEvents() {
    const { db } = env()
    const w = await seedWorld(db)
    await publishEvents(db, w.workflowId, ['m1', 'm2', 'm3'])
    await db.events.reserve({ workflowId: w.workflowId, runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1', 'm2'] }], now: NOW + 1 })
    await db.runs.transition(w.runId, {}, { phase: 'emitting' })
    await db.handlerState.put({ workflowId: w.workflowId, handlerName: 'reply', state: '{"n":1}', runId: null, now: NOW })
    return { db, w }
  }
  const statuses = async (db: ReturnType<typeof env>['db'], workflowId: string) =>
    Object.fromEntries((await db.events.listByWorkflow(workflowId)).map((e) => [e.message_id, [e.status, e.reserved_by_run_id, e.updated_at]]))

  it('moves the run, consumes its reserved events and stores the state, all in one step', async () => {
    const { db, w } = await runWithEvents()
    const run = await db.runs.get(w.runId)
    const state = { workflowId: w.workflowId, handlerName: run!.handler_name, state: '{"n":2}' }
    expect(await db.runs.commit({ id: w.runId, guard: { phase: 'emitting', status: 'active' }, set: committed, effects: { now: NOW + 7, state } })).toBe(true)
    expect(await db.runs.get(w.runId)).toEqual({ ...run, ...committed })
    expect(await statuses(db, w.workflowId)).toEqual({
      m1: ['consumed', w.runId, NOW + 7],
      m2: ['consumed', w.runId, NOW + 7],
      m3: ['pending', null, NOW],
    })
    expect(await db.handlerState.get(w.workflowId, run!.handler_name)).toMatchObject({ state: '{"n":2}', updated_at: NOW + 7, updated_by_run_id: w.runId })
  })

  it('keeps the state as it is when none is given', async () => {
    const { db, w } = await runWithEvents()
    const run = await db.runs.get(w.runId)
    await db.handlerState.put({ workflowId: w.workflowId, handlerName: run!.handler_name, state: '{"n":1}', runId: null, now: NOW })
    expect(await db.runs.commit({ id: w.runId, guard: { phase: 'emitting', status: 'active' }, set: committed, effects: { now: NOW + 7 } })).toBe(true)
    expect(await db.handlerState.get(w.workflowId, run!.handler_name)).toMatchObject({ state: '{"n":1}', updated_at: NOW, updated_by_run_id: null })
    expect((await statuses(db, w.workflowId)).m1).toEqual(['consumed', w.runId, NOW + 7])
  })

  it('writes nothing when the run moved: the run, its events and the state are left as they are', async () => {
    const { db, w } = await runWithEvents()
    await db.runs.transition(w.runId, {}, { status: 'paused' })
    const run = await db.runs.get(w.runId)
    const before = await statuses(db, w.workflowId)
    const state = { workflowId: w.workflowId, handlerName: run!.handler_name, state: '{"n":2}' }
    expect(await db.runs.commit({ id: w.runId, guard: { phase: 'emitting', status: 'active' }, set: committed, effects: { now: NOW + 7, state } })).toBe(false)
    expect(await db.runs.get(w.runId)).toEqual(run)
    expect(await statuses(db, w.workflowId)).toEqual(before)
    expect((await db.handlerState.get(w.workflowId, run!.handler_name))?.state ?? null).not.toBe('{"n":2}')
  })

  it('consumes only the events this run holds', async () => {
    const { db, w } = await runWithEvents()
    const other = await seedRun(db, w, 'wf-1-run-2', { status: 'committed', phase: 'committed', end_timestamp: NOW, ordinal: 2 })
    await db.events.reserve({ workflowId: w.workflowId, runId: other, reservations: [{ topic: TOPIC, ids: ['m3'] }], now: NOW + 2 })
    expect(await db.runs.commit({ id: w.runId, guard: { phase: 'emitting', status: 'active' }, set: committed, effects: { now: NOW + 7 } })).toBe(true)
    expect((await statuses(db, w.workflowId)).m3).toEqual(['reserved', other, NOW + 2])
  })

  it('composes into a caller transaction: a rollback undoes all of it', async () => {
    const { db, w } = await runWithEvents()
    const run = await db.runs.get(w.runId)
    const before = await statuses(db, w.workflowId)
    await expect(
      db.transaction(async (tx) => {
        expect(await tx.runs.commit({ id: w.runId, guard: { phase: 'emitting', status: 'active' }, set: committed, effects: { now: NOW + 7 } })).toBe(true)
        throw new Error('stop')
      }),
    ).rejects.toThrow('stop')
    expect(await db.runs.get(w.runId)).toEqual(run)
    expect(await statuses(db, w.workflowId)).toEqual(before)
  })
  it('returns with the commit the pick view a read right after it returns (PostgreSQL), and none on SQLite', async () => {
    const { db, w } = await runWithEvents()
    await publishEvents(db, w.workflowId, ['x1'])
    await db.wakeups.set(w.workflowId, 'reply', { idleAfterSequence: 2, wakeAt: NOW + 50, now: NOW })
    await db.handlerState.put({ workflowId: w.workflowId, handlerName: 'digest', state: '{"d":1}', runId: null, now: NOW })
    const run = await db.runs.get(w.runId)
    const state = { workflowId: w.workflowId, handlerName: run!.handler_name, state: '{"n":2}' }
    const see = { workflowId: w.workflowId, topics: [TOPIC, 'none', TOPIC], handlers: [run!.handler_name, 'digest', 'absent'] }
    const seen = await db.runs.commitSeeing({ id: w.runId, guard: { phase: 'emitting', status: 'active' }, set: committed, effects: { now: NOW + 7, state } }, see)
    expect(seen.applied).toBe(true)
    expect(await db.runs.get(w.runId)).toEqual({ ...run, ...committed })
    expect((await statuses(db, w.workflowId)).m1).toEqual(['consumed', w.runId, NOW + 7])
    const after = await db.workflows.pickView(w.workflowId, see.topics, see.handlers)
    if (backend() === 'sqlite') return expect(seen.view).toBeUndefined()
    expect(seen.view).toEqual(after)
    // The view is after the commit: m1 and m2 consumed (m3 and x1 left), the stored state the new one.
    expect(after.bounds).toEqual([{ topic: TOPIC, oldestSequence: 3, newestSequence: 4 }])
    expect(after.states.get(run!.handler_name)).toBe('{"n":2}')
  })

  it('returns no view and writes nothing when the run moved', async () => {
    const { db, w } = await runWithEvents()
    await db.runs.transition(w.runId, {}, { status: 'paused' })
    const before = await statuses(db, w.workflowId)
    const see = { workflowId: w.workflowId, topics: [TOPIC], handlers: ['reply'] }
    expect(await db.runs.commitSeeing({ id: w.runId, guard: { phase: 'emitting', status: 'active' }, set: committed, effects: { now: NOW + 7 } }, see)).toEqual({ applied: false })
    expect(await statuses(db, w.workflowId)).toEqual(before)
  })

  it('keeps the stored state in the view when the commit stores none', async () => {
    const { db, w } = await runWithEvents()
    const run = await db.runs.get(w.runId)
    const see = { workflowId: w.workflowId, topics: [TOPIC], handlers: [run!.handler_name] }
    const seen = await db.runs.commitSeeing({ id: w.runId, guard: { phase: 'emitting', status: 'active' }, set: committed, effects: { now: NOW + 7 } }, see)
    expect(seen.applied).toBe(true)
    if (backend() === 'sqlite') return expect(seen.view).toBeUndefined()
    expect(seen.view).toEqual(await db.workflows.pickView(w.workflowId, see.topics, see.handlers))
    expect(seen.view?.states.get(run!.handler_name)).toBe('{"n":1}')
  })

  it('reads the oldest pending events of a topic with the view, as a peek right after the commit returns them (PostgreSQL)', async () => {
    const { db, w } = await runWithEvents()
    await publishEvents(db, w.workflowId, ['m4', 'm5'])
    const run = await db.runs.get(w.runId)
    const see = { workflowId: w.workflowId, topics: [TOPIC], handlers: [run!.handler_name], peek: { topic: TOPIC, limit: 2 } }
    const seen = await db.runs.commitSeeing({ id: w.runId, guard: { phase: 'emitting', status: 'active' }, set: committed, effects: { now: NOW + 7 } }, see)
    expect(seen.applied).toBe(true)
    if (backend() === 'sqlite') return expect(seen.view).toBeUndefined()
    // m1 and m2 were this run's (consumed by the commit); the two oldest pending ones, whole rows as a read gives them.
    expect(seen.view?.pending).toEqual({ topic: TOPIC, limit: 2, events: await db.events.peekPending(w.workflowId, TOPIC, 2) })
    expect(seen.view?.pending?.events.map((e) => e.message_id)).toEqual(['m3', 'm4'])
    // The rest of the view is the view without the events.
    const { pending: _pending, ...view } = seen.view!
    expect(view).toEqual(await db.workflows.pickView(w.workflowId, see.topics, see.handlers))
  })

  it('reads every pending event of the topic when fewer than the limit are pending, and none of an unknown topic', async () => {
    const { db, w } = await runWithEvents()
    const run = await db.runs.get(w.runId)
    const commitSeeing = (id: string, topic: string) =>
      db.runs.commitSeeing({ id, guard: { phase: 'emitting', status: 'active' }, set: committed, effects: { now: NOW + 7 } }, { workflowId: w.workflowId, topics: [TOPIC], handlers: [run!.handler_name], peek: { topic, limit: 50 } })
    const seen = await commitSeeing(w.runId, TOPIC)
    if (backend() === 'sqlite') return expect(seen.view).toBeUndefined()
    expect(seen.view?.pending?.events.map((e) => e.message_id)).toEqual(['m3'])
    const other = await seedRun(db, w, 'run-2', { phase: 'emitting', ordinal: 2 })
    expect((await commitSeeing(other, 'no-such-topic')).view?.pending).toEqual({ topic: 'no-such-topic', limit: 50, events: [] })
  })
})
