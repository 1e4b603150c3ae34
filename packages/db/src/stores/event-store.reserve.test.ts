import { expect, it } from 'vitest'
import { type LedgerflowDb, ReservationRejectedError } from '../index.js'
import { dumpAll } from '../test-helpers/assertions.js'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, TOPIC, type World, publishEvents, runState, seedRun, seedWorld } from '../test-helpers/seed.js'

/** Asserts the rejection, returns its problems. */
async function rejected(work: Promise<unknown>): Promise<ReservationRejectedError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(ReservationRejectedError)
  const e = error as ReservationRejectedError
  expect(e.code).toBe('reservation_rejected')
  expect(ReservationRejectedError.isInstance(e)).toBe(true)
  return e
}

defineStoreSuite('event store: reserve', (env) => {
  /** A world with pending m1..m4 and a second, finished run `other` of the same workflow. */
  async function setUp(): Promise<{ db: LedgerflowDb; w: World }> {
    const { db } = env()
    const w = await seedWorld(db, 'wf-1', { topics: [TOPIC, 'other'] })
    await publishEvents(db, 'wf-1', ['m1', 'm2', 'm3', 'm4'])
    await seedRun(db, w, 'other', { ordinal: 2, ...runState('failed') })
    return { db, w }
  }

  const good = ['m1', 'm2']
  const cases: Array<{ name: string; arrange(db: LedgerflowDb, w: World): Promise<unknown>; ids: string[]; reason: RegExp }> = [
    { name: 'an unknown message id', arrange: async () => {}, ids: [...good, 'ghost'], reason: /'ghost' does not exist/ },
    {
      name: 'a consumed event',
      arrange: async (db, w) => {
        await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m3'] }], now: NOW })
        await db.events.consume(w.runId, NOW)
      },
      ids: [...good, 'm3'],
      reason: /'m3' is consumed, not pending/,
    },
    {
      name: 'an event reserved by another run',
      arrange: (db) => db.events.reserve({ workflowId: 'wf-1', runId: 'other', reservations: [{ topic: TOPIC, ids: ['m3'] }], now: NOW }),
      ids: [...good, 'm3'],
      reason: /'m3' is reserved, not pending/,
    },
    {
      name: 'an event already reserved by this run',
      arrange: (db, w) => db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m3'] }], now: NOW }),
      ids: [...good, 'm3'],
      reason: /'m3' is already reserved by this run/,
    },
    {
      name: 'a dead event',
      arrange: async (db, w) => {
        await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m3'] }], now: NOW })
        await db.events.release(w.runId, { maxAttempts: 1, now: NOW })
      },
      ids: [...good, 'm3'],
      reason: /'m3' is dead, not pending/,
    },
  ]

  it.each(cases)('reserves none of the events when one of them is $name', async ({ arrange, ids, reason }) => {
    const { db, w } = await setUp()
    await arrange(db, w)
    const before = await dumpAll(db)
    const error = await rejected(db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids }], now: NOW + 1 }))
    expect(error.message).toMatch(reason)
    expect(error.message).toMatch(/Nothing was reserved/)
    expect(error.topic).toBe(TOPIC)
    expect(await dumpAll(db)).toEqual(before)
  })

  it('reserves none of the events when a topic is unknown', async () => {
    const { db, w } = await setUp()
    const before = await dumpAll(db)
    const error = await rejected(
      db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: good }, { topic: 'nope', ids: ['m1'] }], now: NOW }),
    )
    expect(error.topic).toBe('nope')
    expect(error.problems[0]?.reason).toMatch(/topic this workflow does not have/)
    expect(await dumpAll(db)).toEqual(before)
  })

  it('names every problem of a topic, not only the first', async () => {
    const { db, w } = await setUp()
    await db.events.reserve({ workflowId: 'wf-1', runId: 'other', reservations: [{ topic: TOPIC, ids: ['m4'] }], now: NOW })
    const error = await rejected(db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1', 'x', 'm4', 'y'] }], now: NOW }))
    expect(error.problems).toEqual([
      { messageId: 'x', reason: 'does not exist' },
      { messageId: 'm4', reason: 'is reserved, not pending' },
      { messageId: 'y', reason: 'does not exist' },
    ])
  })

  it('reserves nothing of an earlier topic when a later topic is rejected, even if the caller goes on', async () => {
    const { db, w } = await setUp()
    await publishEvents(db, 'wf-1', ['o1'], { topic: 'other' })
    await db.transaction(async (tx) => {
      const error = await tx.events
        .reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: good }, { topic: 'other', ids: ['o1', 'ghost'] }], now: NOW })
        .then(() => undefined, (e: unknown) => e)
      expect(error).toBeInstanceOf(ReservationRejectedError)
      // The caller handles the rejection and commits its other work.
      await tx.workflows.setTitle('wf-1', 'handled', NOW + 1)
    })
    expect((await db.workflows.get('wf-1'))?.title).toBe('handled')
    expect(await db.events.listReservedBy(w.runId)).toEqual([])
    expect(await db.events.countByStatus('wf-1')).toEqual({ pending: 5 })
  })

  it('reserves every listed event of several topics and returns how many', async () => {
    const { db, w } = await setUp()
    await publishEvents(db, 'wf-1', ['o1', 'o2'], { topic: 'other' })
    const count = await db.events.reserve({
      workflowId: 'wf-1',
      runId: w.runId,
      reservations: [
        { topic: TOPIC, ids: ['m2', 'm1', 'm2'] },
        { topic: 'other', ids: ['o2'] },
        { topic: 'other', ids: [] },
      ],
      now: NOW + 7,
    })
    expect(count).toBe(3)
    const held = await db.events.listReservedBy(w.runId)
    expect(held.map((e) => e.message_id)).toEqual(['m1', 'm2', 'o2'])
    expect(held.every((e) => e.status === 'reserved' && e.updated_at === NOW + 7)).toBe(true)
    expect((await db.events.peekPending('wf-1', TOPIC, 10)).map((e) => e.message_id)).toEqual(['m3', 'm4'])
  })

  it('returns 0 and changes nothing for an empty reservation list', async () => {
    const { db, w } = await setUp()
    const before = await dumpAll(db)
    expect(await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [], now: NOW })).toBe(0)
    expect(await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: [] }], now: NOW })).toBe(0)
    expect(await dumpAll(db)).toEqual(before)
  })

  it('gives an event to exactly one of two runs reserving it at once', async () => {
    const { db, w } = await setUp()
    const outcomes = await Promise.allSettled([
      db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1', 'm2'] }], now: NOW }),
      db.events.reserve({ workflowId: 'wf-1', runId: 'other', reservations: [{ topic: TOPIC, ids: ['m2', 'm3'] }], now: NOW }),
    ])
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
    const rejection = outcomes.find((o) => o.status === 'rejected')
    expect(ReservationRejectedError.isInstance(rejection?.reason)).toBe(true)
    const reserved = await db.events.listByWorkflow('wf-1', { status: 'reserved' })
    expect(new Set(reserved.map((e) => e.reserved_by_run_id)).size).toBe(1)
  })
})
