import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, TOPIC, seedPendingWorld } from '../test-helpers/seed.js'

defineStoreSuite('workflow store: the pick view', (env) => {
  /** inbox: m1..m4 (sequences 1-4), other: o1, o2 (5, 6), empty: nothing; two consumers with wake-up rows. */
  async function setUp() {
    const { db } = env()
    const w = await seedPendingWorld(db)
    await db.wakeups.set('wf-1', 'reply', { idleAfterSequence: 4, wakeAt: NOW + 500, now: NOW })
    await db.wakeups.set('wf-1', 'digest', { idleAfterSequence: null, wakeAt: null, now: NOW })
    return { db, w }
  }

  it('reads the status, the bounds of the asked topics with pending events and every wake-up row in one view', async () => {
    const { db } = await setUp()
    const view = await db.workflows.pickView('wf-1', [TOPIC, 'other', 'empty', 'unknown', TOPIC])
    expect(view.status).toBe((await db.workflows.get('wf-1'))?.status)
    expect(view.bounds.sort((x, y) => x.topic.localeCompare(y.topic))).toEqual([
      { topic: TOPIC, oldestSequence: 1, newestSequence: 4 },
      { topic: 'other', oldestSequence: 5, newestSequence: 6 },
    ])
    expect(view.wakeups).toEqual([
      { consumerName: 'digest', idleAfterSequence: null, wakeAt: null },
      { consumerName: 'reply', idleAfterSequence: 4, wakeAt: NOW + 500 },
    ])
  })

  it('agrees with the separate reads of bounds and wake-ups after reservations and consumption', async () => {
    const { db, w } = await setUp()
    await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }, { topic: 'other', ids: ['o1', 'o2'] }], now: NOW })
    await db.events.consume(w.runId, NOW)
    const view = await db.workflows.pickView('wf-1', [TOPIC, 'other'])
    expect(view.bounds).toEqual(await db.events.pendingBounds('wf-1', [TOPIC, 'other']))
    expect(view.bounds).toEqual([{ topic: TOPIC, oldestSequence: 2, newestSequence: 4 }])
    const rows = await db.wakeups.list('wf-1')
    expect(view.wakeups).toEqual(rows.map((r) => ({ consumerName: r.consumer_name, idleAfterSequence: r.idle_after_sequence, wakeAt: r.wake_at })))
  })

  it('has no bounds when no topic is asked for, and follows the status through a pause', async () => {
    const { db } = await setUp()
    const before = await db.workflows.get('wf-1')
    await db.workflows.transitionStatus('wf-1', { from: [before!.status], to: 'paused', now: NOW })
    const view = await db.workflows.pickView('wf-1', [])
    expect(view).toMatchObject({ status: 'paused', bounds: [] })
    expect(view.wakeups).toHaveLength(2)
  })

  it('says nothing about a workflow that does not exist', async () => {
    const { db } = env()
    expect(await db.workflows.pickView('nope', [TOPIC], ['reply'])).toEqual({ status: undefined, bounds: [], wakeups: [], states: new Map() })
  })

  it('reads the stored states of the handlers asked for, as JSON text, and leaves out those without a row', async () => {
    const { db, w } = await setUp()
    await db.handlerState.put({ workflowId: 'wf-1', handlerName: 'reply', state: '{"count":2}', runId: w.runId, now: NOW })
    await db.handlerState.put({ workflowId: 'wf-1', handlerName: 'digest', state: null, runId: w.runId, now: NOW })
    await db.handlerState.put({ workflowId: 'wf-1', handlerName: 'other', state: '[1]', runId: w.runId, now: NOW })
    const view = await db.workflows.pickView('wf-1', [TOPIC], ['reply', 'digest', 'never', 'reply'])
    expect(view.states).toEqual(new Map([['reply', '{"count":2}'], ['digest', null]]))
    expect(view.bounds).toEqual([{ topic: TOPIC, oldestSequence: 1, newestSequence: 4 }])
    expect((await db.workflows.pickView('wf-1', [TOPIC])).states).toEqual(new Map())
  })
})
