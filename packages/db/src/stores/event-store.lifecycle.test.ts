/** What happens to reserved events afterwards: consume, skip, release (with attempts and `dead`), transfer, requeue. */
import { expect, it } from 'vitest'
import type { LedgerflowDb } from '../index.js'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, TOPIC, type World, eventId, publishEvents, runState, seedRun, seedWorld } from '../test-helpers/seed.js'

defineStoreSuite('event store: consume, skip, transfer', (env) => {
  /** m1, m2 reserved by the run; m3 reserved by `other`; m4 pending. */
  async function setUp(): Promise<{ db: LedgerflowDb; w: World }> {
    const { db } = env()
    const w = await seedWorld(db)
    await seedRun(db, w, 'other', { ordinal: 2, ...runState('failed') })
    await publishEvents(db, 'wf-1', ['m1', 'm2', 'm3', 'm4'])
    await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1', 'm2'] }], now: NOW })
    await db.events.reserve({ workflowId: 'wf-1', runId: 'other', reservations: [{ topic: TOPIC, ids: ['m3'] }], now: NOW })
    return { db, w }
  }
  const statuses = async (db: LedgerflowDb) =>
    Object.fromEntries((await db.events.listByWorkflow('wf-1')).map((e) => [e.message_id, [e.status, e.reserved_by_run_id]]))

  it('consumes only the events the run holds and keeps who held them', async () => {
    const { db, w } = await setUp()
    expect(await db.events.consume(w.runId, NOW + 1)).toBe(2)
    expect(await statuses(db)).toEqual({
      m1: ['consumed', w.runId],
      m2: ['consumed', w.runId],
      m3: ['reserved', 'other'],
      m4: ['pending', null],
    })
    expect((await db.events.get(eventId('wf-1', 'm1')))?.updated_at).toBe(NOW + 1)
    // Consumed events are no longer held: a second consume does nothing.
    expect(await db.events.consume(w.runId, NOW + 2)).toBe(0)
    expect(await db.events.listReservedBy(w.runId)).toEqual([])
  })

  it('skips only the events the run holds', async () => {
    const { db, w } = await setUp()
    expect(await db.events.skip(w.runId, NOW + 1)).toBe(2)
    expect(await statuses(db)).toMatchObject({ m1: ['skipped', w.runId], m2: ['skipped', w.runId], m3: ['reserved', 'other'] })
    expect(await db.events.skip(w.runId, NOW + 2)).toBe(0)
  })

  it('does nothing for a run that holds no events', async () => {
    const { db } = await setUp()
    const before = await statuses(db)
    expect(await db.events.consume('nobody', NOW)).toBe(0)
    expect(await db.events.skip('nobody', NOW)).toBe(0)
    expect(await db.events.release('nobody', { maxAttempts: 3, now: NOW })).toEqual({ released: 0, dead: 0 })
    expect(await db.events.transfer('nobody', 'other', NOW)).toBe(0)
    expect(await statuses(db)).toEqual(before)
  })

  it('transfers only the run reservations to the retry run', async () => {
    const { db, w } = await setUp()
    await db.runs.transition(w.runId, {}, runState('failed'))
    const retry = await seedRun(db, w, 'retry', { ordinal: 3, retry_of: w.runId })
    expect(await db.events.transfer(w.runId, retry, NOW + 1)).toBe(2)
    expect(await statuses(db)).toMatchObject({ m1: ['reserved', retry], m2: ['reserved', retry], m3: ['reserved', 'other'] })
    expect(await db.events.listReservedBy(w.runId)).toEqual([])
  })

  it('does not transfer events the run already consumed', async () => {
    const { db, w } = await setUp()
    await db.events.consume(w.runId, NOW)
    expect(await db.events.transfer(w.runId, 'other', NOW + 1)).toBe(0)
    expect(await statuses(db)).toMatchObject({ m1: ['consumed', w.runId] })
  })
})

defineStoreSuite('event store: release and requeue', (env) => {
  async function setUp(): Promise<{ db: LedgerflowDb; w: World }> {
    const { db } = env()
    const w = await seedWorld(db)
    await seedRun(db, w, 'other', { ordinal: 2, ...runState('failed') })
    await publishEvents(db, 'wf-1', ['m1', 'm2', 'm3'])
    return { db, w }
  }
  const reserve = (db: LedgerflowDb, runId: string, ids: string[]) =>
    db.events.reserve({ workflowId: 'wf-1', runId, reservations: [{ topic: TOPIC, ids }], now: NOW })
  const event = async (db: LedgerflowDb, messageId: string) => (await db.events.get(eventId('wf-1', messageId)))!

  it('puts the run events back to pending with the next attempt number', async () => {
    const { db, w } = await setUp()
    await reserve(db, w.runId, ['m1', 'm2'])
    await reserve(db, 'other', ['m3'])
    expect(await db.events.release(w.runId, { maxAttempts: 3, now: NOW + 1 })).toEqual({ released: 2, dead: 0 })
    expect(await event(db, 'm1')).toMatchObject({ status: 'pending', reserved_by_run_id: null, attempt_number: 2, updated_at: NOW + 1 })
    expect(await event(db, 'm3')).toMatchObject({ status: 'reserved', reserved_by_run_id: 'other', attempt_number: 1 })
    expect((await db.events.peekPending('wf-1', TOPIC, 10)).map((e) => e.message_id)).toEqual(['m1', 'm2'])
  })

  it('turns an event dead once its next attempt would pass maxAttempts', async () => {
    const { db, w } = await setUp()
    const maxAttempts = 3
    for (let attempt = 1; attempt < maxAttempts; attempt++) {
      await reserve(db, w.runId, ['m1'])
      expect(await db.events.release(w.runId, { maxAttempts, now: NOW })).toEqual({ released: 1, dead: 0 })
      expect(await event(db, 'm1')).toMatchObject({ status: 'pending', attempt_number: attempt + 1 })
    }
    await reserve(db, w.runId, ['m1'])
    expect(await db.events.release(w.runId, { maxAttempts, now: NOW + 9 })).toEqual({ released: 0, dead: 1 })
    expect(await event(db, 'm1')).toMatchObject({ status: 'dead', attempt_number: maxAttempts, updated_at: NOW + 9 })
    expect(await db.events.peekPending('wf-1', TOPIC, 10)).toHaveLength(2)
  })

  it('releases some and kills others in one call, by each event attempt number', async () => {
    const { db, w } = await setUp()
    await reserve(db, w.runId, ['m1'])
    await db.events.release(w.runId, { maxAttempts: 2, now: NOW })
    await reserve(db, w.runId, ['m1', 'm2'])
    expect(await db.events.release(w.runId, { maxAttempts: 2, now: NOW })).toEqual({ released: 1, dead: 1 })
    expect((await event(db, 'm1')).status).toBe('dead')
    expect(await event(db, 'm2')).toMatchObject({ status: 'pending', attempt_number: 2 })
  })

  it('requeues a dead event as pending with attempts reset', async () => {
    const { db, w } = await setUp()
    await reserve(db, w.runId, ['m1'])
    await db.events.release(w.runId, { maxAttempts: 1, now: NOW })
    expect(await db.events.requeue(eventId('wf-1', 'm1'), NOW + 5)).toBe(true)
    expect(await event(db, 'm1')).toMatchObject({ status: 'pending', attempt_number: 1, reserved_by_run_id: null, updated_at: NOW + 5 })
    expect((await db.events.peekPending('wf-1', TOPIC, 1))[0]?.message_id).toBe('m1')
  })

  it('refuses to requeue an event that is not dead', async () => {
    const { db, w } = await setUp()
    await reserve(db, w.runId, ['m1'])
    await reserve(db, 'other', ['m2'])
    await db.events.consume('other', NOW)
    for (const messageId of ['m1', 'm2', 'm3']) {
      const before = await event(db, messageId)
      expect(await db.events.requeue(before.id, NOW + 1)).toBe(false)
      expect(await event(db, messageId)).toEqual(before)
    }
    expect(await db.events.requeue('no-such-event', NOW)).toBe(false)
  })
})
