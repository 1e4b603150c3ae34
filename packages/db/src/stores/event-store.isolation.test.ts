/**
 * Events are scoped to their workflow: two workflows with the same topic name and the same messageId never touch
 * each other's events.
 */
import { expect, it } from 'vitest'
import { type LedgerflowDb, ReservationRejectedError } from '../index.js'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, TOPIC, type World, eventId, publishEvents, seedWorld } from '../test-helpers/seed.js'

defineStoreSuite('event store: workflow isolation', (env) => {
  /** wf-a and wf-b, each with topic `inbox` holding m1 and m2, each with an active run. */
  async function setUp(): Promise<{ db: LedgerflowDb; a: World; b: World }> {
    const { db } = env()
    const a = await seedWorld(db, 'wf-a')
    const b = await seedWorld(db, 'wf-b')
    await publishEvents(db, 'wf-a', ['m1', 'm2'])
    await publishEvents(db, 'wf-b', ['m1', 'm2'])
    return { db, a, b }
  }
  const state = async (db: LedgerflowDb, workflowId: string) =>
    (await db.events.listByWorkflow(workflowId)).map((e) => [e.message_id, e.status, e.reserved_by_run_id, e.attempt_number])

  it('publishes the same messageId in both workflows, each with its own sequence', async () => {
    const { db } = await setUp()
    expect((await db.events.get(eventId('wf-a', 'm1')))?.sequence).toBe(1)
    expect((await db.events.get(eventId('wf-b', 'm1')))?.sequence).toBe(1)
    expect((await publishEvents(db, 'wf-b', ['m3'])).inserted[0]?.sequence).toBe(3)
  })

  it('reserves only the events of the reserving workflow', async () => {
    const { db, a } = await setUp()
    expect(await db.events.reserve({ workflowId: 'wf-a', runId: a.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW })).toBe(1)
    expect(await state(db, 'wf-a')).toEqual([
      ['m1', 'reserved', a.runId, 1],
      ['m2', 'pending', null, 1],
    ])
    expect(await state(db, 'wf-b')).toEqual([
      ['m1', 'pending', null, 1],
      ['m2', 'pending', null, 1],
    ])
  })

  it('lets the other workflow reserve its own event of the same messageId', async () => {
    const { db, a, b } = await setUp()
    await db.events.reserve({ workflowId: 'wf-a', runId: a.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW })
    expect(await db.events.reserve({ workflowId: 'wf-b', runId: b.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW })).toBe(1)
    expect((await db.events.get(eventId('wf-b', 'm1')))?.reserved_by_run_id).toBe(b.runId)
    expect((await db.events.get(eventId('wf-a', 'm1')))?.reserved_by_run_id).toBe(a.runId)
  })

  it('rejects a messageId that exists only in the other workflow', async () => {
    const { db, a } = await setUp()
    await publishEvents(db, 'wf-b', ['only-b'])
    await expect(db.events.reserve({ workflowId: 'wf-a', runId: a.runId, reservations: [{ topic: TOPIC, ids: ['only-b'] }], now: NOW })).rejects.toBeInstanceOf(
      ReservationRejectedError,
    )
    expect((await db.events.get(eventId('wf-b', 'only-b')))?.status).toBe('pending')
  })

  it('consumes, releases and skips only the run events of its own workflow', async () => {
    const { db, a, b } = await setUp()
    await db.events.reserve({ workflowId: 'wf-a', runId: a.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW })
    await db.events.reserve({ workflowId: 'wf-a', runId: a.runId, reservations: [{ topic: TOPIC, ids: ['m2'] }], now: NOW })
    await db.events.reserve({ workflowId: 'wf-b', runId: b.runId, reservations: [{ topic: TOPIC, ids: ['m1', 'm2'] }], now: NOW })
    expect(await db.events.consume(a.runId, NOW)).toBe(2)
    expect(await state(db, 'wf-b')).toEqual([
      ['m1', 'reserved', b.runId, 1],
      ['m2', 'reserved', b.runId, 1],
    ])
    expect(await db.events.release(b.runId, { maxAttempts: 5, now: NOW })).toEqual({ released: 2, dead: 0 })
    expect(await state(db, 'wf-a')).toEqual([
      ['m1', 'consumed', a.runId, 1],
      ['m2', 'consumed', a.runId, 1],
    ])
    expect(await state(db, 'wf-b')).toEqual([
      ['m1', 'pending', null, 2],
      ['m2', 'pending', null, 2],
    ])
  })

  it('peeks and looks up only the events of the asking workflow', async () => {
    const { db, a } = await setUp()
    await db.events.reserve({ workflowId: 'wf-a', runId: a.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW })
    expect((await db.events.peekPending('wf-a', TOPIC, 10)).map((e) => e.id)).toEqual([eventId('wf-a', 'm2')])
    expect((await db.events.peekPending('wf-b', TOPIC, 10)).map((e) => e.id)).toEqual([eventId('wf-b', 'm1'), eventId('wf-b', 'm2')])
    const found = await db.events.getByMessageIds('wf-a', TOPIC, ['m1'])
    expect(found.map((e) => [e.id, e.status])).toEqual([[eventId('wf-a', 'm1'), 'reserved']])
    expect((await db.events.getByMessageIds('wf-b', TOPIC, ['m1'])).map((e) => e.workflow_id)).toEqual(['wf-b'])
  })

  it('keeps summaries and counts per workflow', async () => {
    const { db, a } = await setUp()
    await db.events.reserve({ workflowId: 'wf-a', runId: a.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW })
    expect(await db.events.pendingSummary('wf-a')).toEqual([{ topic: TOPIC, count: 1, oldestSequence: 2, newestSequence: 2 }])
    expect(await db.events.pendingSummary('wf-b')).toEqual([{ topic: TOPIC, count: 2, oldestSequence: 1, newestSequence: 2 }])
    expect(await db.events.countByStatus('wf-a')).toEqual({ pending: 1, reserved: 1 })
    expect(await db.events.countByStatus('wf-b')).toEqual({ pending: 2 })
  })
})
