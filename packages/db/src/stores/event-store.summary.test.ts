import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, TOPIC, seedPendingWorld } from '../test-helpers/seed.js'

defineStoreSuite('event store: pending summaries', (env) => {
  /** inbox: m1..m4 (sequences 1-4), other: o1, o2 (5, 6), empty: nothing. */
  async function setUp() {
    const { db } = env()
    return { db, w: await seedPendingWorld(db) }
  }

  it('counts pending events per topic with their oldest and newest sequence', async () => {
    const { db } = await setUp()
    const summary = await db.events.pendingSummary('wf-1')
    expect(summary.sort((x, y) => x.topic.localeCompare(y.topic))).toEqual([
      { topic: TOPIC, count: 4, oldestSequence: 1, newestSequence: 4 },
      { topic: 'other', count: 2, oldestSequence: 5, newestSequence: 6 },
    ])
  })

  it('leaves reserved and consumed events out of the summary', async () => {
    const { db, w } = await setUp()
    await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1', 'm4'] }, { topic: 'other', ids: ['o1', 'o2'] }], now: NOW })
    expect(await db.events.pendingSummary('wf-1')).toEqual([{ topic: TOPIC, count: 2, oldestSequence: 2, newestSequence: 3 }])
    await db.events.consume(w.runId, NOW)
    expect(await db.events.pendingSummary('wf-1')).toEqual([{ topic: TOPIC, count: 2, oldestSequence: 2, newestSequence: 3 }])
  })

  it('gives the oldest and newest pending sequence of each asked topic that has pending events', async () => {
    const { db } = await setUp()
    const bounds = await db.events.pendingBounds('wf-1', [TOPIC, 'other', 'empty', 'unknown', TOPIC])
    expect(bounds.sort((x, y) => x.topic.localeCompare(y.topic))).toEqual([
      { topic: TOPIC, oldestSequence: 1, newestSequence: 4 },
      { topic: 'other', oldestSequence: 5, newestSequence: 6 },
    ])
    expect(await db.events.pendingBounds('wf-1', ['other'])).toEqual([{ topic: 'other', oldestSequence: 5, newestSequence: 6 }])
    expect(await db.events.pendingBounds('wf-1', [])).toEqual([])
  })

  it('ignores consumed, skipped, reserved and dead events in the bounds', async () => {
    const { db, w } = await setUp()
    await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW })
    await db.events.consume(w.runId, NOW)
    await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m4'] }], now: NOW })
    expect(await db.events.pendingBounds('wf-1', [TOPIC])).toEqual([{ topic: TOPIC, oldestSequence: 2, newestSequence: 3 }])
    await db.events.release(w.runId, { maxAttempts: 1, now: NOW })
    expect(await db.events.pendingBounds('wf-1', [TOPIC])).toEqual([{ topic: TOPIC, oldestSequence: 2, newestSequence: 3 }])
    await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: 'other', ids: ['o1', 'o2'] }], now: NOW })
    await db.events.skip(w.runId, NOW)
    expect(await db.events.pendingBounds('wf-1', ['other'])).toEqual([])
  })

  it('counts events by status and lists them by sequence, filtered by status and topic', async () => {
    const { db, w } = await setUp()
    await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m2'] }, { topic: 'other', ids: ['o1'] }], now: NOW })
    await db.events.consume(w.runId, NOW)
    expect(await db.events.countByStatus('wf-1')).toEqual({ pending: 4, consumed: 2 })
    expect(await db.events.countByStatus('nope')).toEqual({})
    const all = await db.events.listByWorkflow('wf-1')
    expect(all.map((e) => [e.message_id, e.topic])).toEqual([
      ['m1', TOPIC],
      ['m2', TOPIC],
      ['m3', TOPIC],
      ['m4', TOPIC],
      ['o1', 'other'],
      ['o2', 'other'],
    ])
    expect((await db.events.listByWorkflow('wf-1', { status: 'consumed' })).map((e) => e.message_id)).toEqual(['m2', 'o1'])
    expect((await db.events.listByWorkflow('wf-1', { topic: 'other', status: 'pending' })).map((e) => e.message_id)).toEqual(['o2'])
    expect((await db.events.listByWorkflow('wf-1', { limit: 2 })).map((e) => e.message_id)).toEqual(['m1', 'm2'])
  })
})
