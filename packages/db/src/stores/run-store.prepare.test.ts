import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, TOPIC, publishEvents, seedWorld } from '../test-helpers/seed.js'

defineStoreSuite('run store: prepared checkpoint', (env) => {
  const prepared = { phase: 'prepared', attempt: 1, retry_at: null, error: null, error_type: null, prepare_result: '{"reservations":[]}', input_state: 'null' } as const
  const guard = { phase: 'preparing', status: 'active' } as const

  async function world() {
    const { db } = env()
    const w = await seedWorld(db)
    await publishEvents(db, w.workflowId, ['m1', 'm2'])
    const run = (await db.runs.get(w.runId))!
    const effects = (over: object = {}) => ({
      workflowId: w.workflowId,
      consumerName: run.handler_name,
      now: NOW + 5,
      wakeup: { idleAfterSequence: null, wakeAt: NOW + 60_000 },
      ...over,
    })
    const events = async () => Object.fromEntries((await db.events.listByWorkflow(w.workflowId)).map((e) => [e.message_id, [e.status, e.reserved_by_run_id]]))
    const everything = async () => ({
      run: await db.runs.get(w.runId),
      events: await events(),
      wakeups: await db.wakeups.list(w.workflowId),
      workflow: await db.workflows.get(w.workflowId),
    })
    return { db, w, run, effects, events, everything }
  }

  it('moves the run, reserves the event and writes the wake-up row and the workflow sleep in one step', async () => {
    const { db, w, run, effects, events } = await world()
    expect((await db.runs.prepare({ id: w.runId, guard, set: prepared, effects: effects({ reserve: { topic: TOPIC, messageId: 'm2' } }) })).outcome).toBe('applied')
    expect(await db.runs.get(w.runId)).toEqual({ ...run, ...prepared })
    expect(await events()).toEqual({ m1: ['pending', null], m2: ['reserved', w.runId] })
    expect(await db.wakeups.list(w.workflowId)).toEqual([
      { workflow_id: w.workflowId, consumer_name: run.handler_name, idle_after_sequence: null, wake_at: NOW + 60_000, updated_at: NOW + 5 },
    ])
    expect((await db.workflows.get(w.workflowId))?.consumer_sleep_until).toBe(NOW + 60_000)
  })

  it('reports the workflow status as the checkpoint saw it, and none when it did not apply', async () => {
    const { db, w, effects } = await world()
    await db.workflows.transitionStatus(w.workflowId, { from: ['active', 'draft'], to: 'paused', now: NOW })
    expect(await db.runs.prepare({ id: w.runId, guard, set: prepared, effects: effects() })).toEqual({ outcome: 'applied', workflowStatus: 'paused' })
    expect(await db.runs.prepare({ id: w.runId, guard, set: prepared, effects: effects() })).toEqual({ outcome: 'moved' })
  })

  it('moves the run without reserving anything, and replaces an earlier wake-up row', async () => {
    const { db, w, run, effects, events } = await world()
    await db.wakeups.set(w.workflowId, run.handler_name, { idleAfterSequence: null, wakeAt: NOW + 1, now: NOW })
    expect((await db.runs.prepare({ id: w.runId, guard, set: prepared, effects: effects({ wakeup: { idleAfterSequence: 2, wakeAt: null } }) })).outcome).toBe('applied')
    expect(await events()).toEqual({ m1: ['pending', null], m2: ['pending', null] })
    expect(await db.wakeups.list(w.workflowId)).toMatchObject([{ idle_after_sequence: 2, wake_at: null, updated_at: NOW + 5 }])
    expect((await db.workflows.get(w.workflowId))?.consumer_sleep_until).toBeNull()
  })

  it('writes nothing when the run moved', async () => {
    const { db, w, effects, everything } = await world()
    await db.runs.transition(w.runId, {}, { status: 'paused' })
    const before = await everything()
    expect((await db.runs.prepare({ id: w.runId, guard, set: prepared, effects: effects({ reserve: { topic: TOPIC, messageId: 'm1' } }) })).outcome).toBe('moved')
    expect(await everything()).toEqual(before)
  })

  it('writes nothing when the event is not pending (reserved, unknown, or in a topic the workflow lacks)', async () => {
    const { db, w, effects, everything } = await world()
    const other = await seedWorld(db, 'wf-2')
    await publishEvents(db, other.workflowId, ['m1'])
    await db.events.reserve({ workflowId: w.workflowId, runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW + 1 })
    const before = await everything()
    for (const reserve of [
      { topic: TOPIC, messageId: 'm1' },
      { topic: TOPIC, messageId: 'nope' },
      { topic: 'elsewhere', messageId: 'm2' },
    ]) {
      expect((await db.runs.prepare({ id: w.runId, guard, set: prepared, effects: effects({ reserve }) })).outcome).toBe('refused')
      expect(await everything()).toEqual(before)
    }
  })

  it('composes into a caller transaction: a rollback undoes all of it', async () => {
    const { db, w, effects, everything } = await world()
    const before = await everything()
    await expect(
      db.transaction(async (tx) => {
        expect((await tx.runs.prepare({ id: w.runId, guard, set: prepared, effects: effects({ reserve: { topic: TOPIC, messageId: 'm1' } }) })).outcome).toBe('applied')
        throw new Error('stop')
      }),
    ).rejects.toThrow('stop')
    expect(await everything()).toEqual(before)
  })

  it('leaves a caller transaction with nothing of a refused or moved checkpoint in it', async () => {
    const { db, w, effects, everything } = await world()
    await db.events.reserve({ workflowId: w.workflowId, runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW + 1 })
    const before = await everything()
    await db.transaction(async (tx) => {
      expect((await tx.runs.prepare({ id: w.runId, guard, set: prepared, effects: effects({ reserve: { topic: TOPIC, messageId: 'm1' } }) })).outcome).toBe('refused')
      expect((await tx.runs.prepare({ id: w.runId, guard: { phase: 'prepared', status: 'active' }, set: prepared, effects: effects({ reserve: { topic: TOPIC, messageId: 'm2' } }) })).outcome).toBe('moved')
    })
    expect(await everything()).toEqual(before)
  })
})
