import { expect, it } from 'vitest'
import { NotFoundError } from '../index.js'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, TOPIC, eventId, publishEvents, seedWorkflow, seedWorld } from '../test-helpers/seed.js'

defineStoreSuite('event store: publish', (env) => {
  it('inserts new events as pending with consecutive sequences', async () => {
    const { db } = env()
    await seedWorkflow(db)
    const outcome = await publishEvents(db, 'wf-1', ['m1', 'm2'])
    expect(outcome).toEqual({
      inserted: [
        { id: eventId('wf-1', 'm1'), topic: TOPIC, messageId: 'm1', sequence: 1 },
        { id: eventId('wf-1', 'm2'), topic: TOPIC, messageId: 'm2', sequence: 2 },
      ],
      duplicates: [],
    })
    expect(await db.events.get(eventId('wf-1', 'm1'))).toMatchObject({
      status: 'pending',
      attempt_number: 1,
      reserved_by_run_id: null,
      payload: '{"messageId":"m1"}',
      sequence: 1,
    })
  })

  it('reports a second publish of a topic and messageId as duplicate and changes nothing', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await publishEvents(db, 'wf-1', ['m1'])
    const before = await db.events.get(eventId('wf-1', 'm1'))
    const outcome = await db.events.publish(
      'wf-1',
      [{ id: 'other-id', topic: TOPIC, messageId: 'm1', title: 'changed', payload: '{"changed":true}', createdByRunId: null }],
      NOW + 100,
    )
    expect(outcome).toEqual({ inserted: [], duplicates: [{ topic: TOPIC, messageId: 'm1' }] })
    expect(await db.events.get(eventId('wf-1', 'm1'))).toEqual(before)
    expect(await db.events.get('other-id')).toBeUndefined()
    expect(await db.events.countByStatus('wf-1')).toEqual({ pending: 1 })
  })

  it('keeps the first of two events with the same messageId in one publish', async () => {
    const { db } = env()
    await seedWorkflow(db)
    const outcome = await db.events.publish(
      'wf-1',
      [
        { id: 'first', topic: TOPIC, messageId: 'm1', title: 'first', payload: '1', createdByRunId: null },
        { id: 'second', topic: TOPIC, messageId: 'm1', title: 'second', payload: '2', createdByRunId: null },
      ],
      NOW,
    )
    expect(outcome.inserted.map((e) => e.id)).toEqual(['first'])
    expect(outcome.duplicates).toEqual([{ topic: TOPIC, messageId: 'm1' }])
    expect((await db.events.getByMessageIds('wf-1', TOPIC, ['m1'])).map((e) => e.title)).toEqual(['first'])
  })

  it('does not count a consumed event as absent: republishing it is still a duplicate', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await publishEvents(db, 'wf-1', ['m1'])
    await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW })
    await db.events.consume(w.runId, NOW)
    expect((await publishEvents(db, 'wf-1', ['m1'])).duplicates).toHaveLength(1)
    expect((await db.events.get(eventId('wf-1', 'm1')))?.status).toBe('consumed')
  })

  it('hands out strictly increasing sequences per workflow across publishes and topics', async () => {
    const { db } = env()
    await seedWorkflow(db, 'wf-1', { topics: [TOPIC, 'other'] })
    await seedWorkflow(db, 'wf-2')
    const sequences: number[] = []
    for (let i = 0; i < 5; i++) {
      const topic = i % 2 === 0 ? TOPIC : 'other'
      const out = await publishEvents(db, 'wf-1', [`a${i}`, `b${i}`], { topic })
      sequences.push(...out.inserted.map((e) => e.sequence))
      // A duplicate in between must not make a later sequence go back.
      await publishEvents(db, 'wf-1', [`a${i}`], { topic })
    }
    for (let i = 1; i < sequences.length; i++) expect(sequences[i]!).toBeGreaterThan(sequences[i - 1]!)
    // Each workflow counts on its own.
    expect((await publishEvents(db, 'wf-2', ['a0'])).inserted[0]?.sequence).toBe(1)
  })

  it('throws NotFoundError for a topic the workflow does not have, and publishes none of the batch', async () => {
    const { db } = env()
    await seedWorkflow(db, 'wf-1')
    await seedWorkflow(db, 'wf-2', { topics: ['elsewhere'] })
    const publish = db.events.publish(
      'wf-1',
      [
        { id: 'ok', topic: TOPIC, messageId: 'm1', title: 't', payload: '{}', createdByRunId: null },
        { id: 'bad', topic: 'elsewhere', messageId: 'm2', title: 't', payload: '{}', createdByRunId: null },
      ],
      NOW,
    )
    await expect(publish).rejects.toSatisfy((e) => NotFoundError.isInstance(e) && (e as NotFoundError).code === 'not_found')
    expect(await db.events.countByStatus('wf-1')).toEqual({})
    expect((await db.workflows.get('wf-1'))?.event_sequence).toBe(0)
  })

  it('returns an empty outcome for an empty batch', async () => {
    const { db } = env()
    await seedWorkflow(db)
    expect(await db.events.publish('wf-1', [], NOW)).toEqual({ inserted: [], duplicates: [] })
  })

  it('records the run that published an event', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await publishEvents(db, 'wf-1', ['m1'], { runId: w.runId })
    expect((await db.events.get(eventId('wf-1', 'm1')))?.created_by_run_id).toBe(w.runId)
  })
})

defineStoreSuite('event store: peekPending and getByMessageIds', (env) => {
  it('returns the oldest pending events by sequence, not by time', async () => {
    const { db } = env()
    await seedWorkflow(db)
    // Equal timestamps, published in an order that differs from the message ids' order.
    await publishEvents(db, 'wf-1', ['m3'], { now: NOW })
    await publishEvents(db, 'wf-1', ['m1'], { now: NOW })
    await publishEvents(db, 'wf-1', ['m2'], { now: NOW })
    expect((await db.events.peekPending('wf-1', TOPIC, 10)).map((e) => e.message_id)).toEqual(['m3', 'm1', 'm2'])
    expect((await db.events.peekPending('wf-1', TOPIC, 2)).map((e) => e.message_id)).toEqual(['m3', 'm1'])
  })

  it('orders by sequence even when a later event has an earlier timestamp', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await publishEvents(db, 'wf-1', ['late'], { now: NOW + 1_000 })
    await publishEvents(db, 'wf-1', ['early'], { now: NOW })
    expect((await db.events.peekPending('wf-1', TOPIC, 10)).map((e) => e.message_id)).toEqual(['late', 'early'])
  })

  it('skips events that are not pending and returns nothing for an unknown topic', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await publishEvents(db, 'wf-1', ['m1', 'm2', 'm3'])
    await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW })
    expect((await db.events.peekPending('wf-1', TOPIC, 10)).map((e) => e.message_id)).toEqual(['m2', 'm3'])
    expect(await db.events.peekPending('wf-1', 'nope', 10)).toEqual([])
  })

  it('returns events of the given message ids in any status, leaving out unknown ids', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await publishEvents(db, 'wf-1', ['m1', 'm2', 'm3'])
    await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1', 'm2'] }], now: NOW })
    await db.events.consume(w.runId, NOW)
    const found = await db.events.getByMessageIds('wf-1', TOPIC, ['m3', 'm1', 'ghost', 'm1'])
    expect(found.map((e) => [e.message_id, e.status])).toEqual([
      ['m1', 'consumed'],
      ['m3', 'pending'],
    ])
    expect(await db.events.getByMessageIds('wf-1', TOPIC, [])).toEqual([])
    expect(await db.events.getByMessageIds('wf-1', 'nope', ['m1'])).toEqual([])
  })
})
