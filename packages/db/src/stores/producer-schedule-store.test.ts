import { expect, it } from 'vitest'
import type { ScheduleDefinition } from '../index.js'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, seedWorkflow } from '../test-helpers/seed.js'

const poll: ScheduleDefinition = { producerName: 'poll', kind: 'interval', expression: '5m', timezone: null, nextRunAt: NOW }
const nightly: ScheduleDefinition = { producerName: 'nightly', kind: 'cron', expression: '0 3 * * *', timezone: 'UTC', nextRunAt: NOW + 50 }

defineStoreSuite('producer schedule store: advance', (env) => {
  it('advances when next_run_at is still the expected value', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await db.schedules.sync('wf-1', [poll], NOW)
    expect(await db.schedules.advance('wf-1', 'poll', { expectedNextRunAt: NOW, nextRunAt: NOW + 300_000, lastRunAt: NOW, now: NOW + 1 })).toBe(true)
    expect((await db.schedules.list('wf-1'))[0]).toMatchObject({ next_run_at: NOW + 300_000, last_run_at: NOW, updated_at: NOW + 1 })
  })

  it('returns false and changes nothing when next_run_at moved since it was read', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await db.schedules.sync('wf-1', [poll], NOW)
    await db.schedules.advance('wf-1', 'poll', { expectedNextRunAt: NOW, nextRunAt: NOW + 10, lastRunAt: NOW, now: NOW })
    const before = await db.schedules.list('wf-1')
    expect(await db.schedules.advance('wf-1', 'poll', { expectedNextRunAt: NOW, nextRunAt: NOW + 20, lastRunAt: NOW, now: NOW })).toBe(false)
    expect(await db.schedules.advance('wf-1', 'ghost', { expectedNextRunAt: NOW, nextRunAt: NOW + 20, lastRunAt: NOW, now: NOW })).toBe(false)
    expect(await db.schedules.list('wf-1')).toEqual(before)
  })

  it('lets exactly one of two schedulers advance the same due run', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await db.schedules.sync('wf-1', [poll], NOW)
    const change = { expectedNextRunAt: NOW, nextRunAt: NOW + 300_000, lastRunAt: NOW, now: NOW }
    const results = await Promise.all([db.schedules.advance('wf-1', 'poll', change), db.schedules.advance('wf-1', 'poll', change)])
    expect(results.sort()).toEqual([false, true])
  })
})

defineStoreSuite('producer schedule store: sync and due runs', (env) => {
  it('keeps the next run of an unchanged producer, resets a changed one and deletes a removed one', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await db.schedules.sync('wf-1', [poll, nightly], NOW)
    await db.schedules.advance('wf-1', 'poll', { expectedNextRunAt: NOW, nextRunAt: NOW + 7, lastRunAt: NOW, now: NOW })
    await db.schedules.sync('wf-1', [{ ...poll, nextRunAt: NOW + 999 }, { ...nightly, expression: '0 4 * * *', nextRunAt: NOW + 60 }], NOW + 1)
    expect((await db.schedules.list('wf-1')).map((s) => [s.producer_name, s.expression, s.next_run_at, s.last_run_at])).toEqual([
      ['nightly', '0 4 * * *', NOW + 60, null],
      ['poll', '5m', NOW + 7, NOW],
    ])
    await db.schedules.sync('wf-1', [nightly], NOW + 2)
    expect((await db.schedules.list('wf-1')).map((s) => s.producer_name)).toEqual(['nightly'])
  })

  it('lists due schedules and the next due time of active workflows only', async () => {
    const { db } = env()
    await seedWorkflow(db, 'wf-active')
    await seedWorkflow(db, 'wf-paused', { status: 'paused' })
    await db.schedules.sync('wf-active', [poll, nightly], NOW)
    await db.schedules.sync('wf-paused', [{ ...poll, nextRunAt: NOW - 100 }], NOW)
    expect((await db.schedules.listDue(NOW)).map((s) => [s.workflow_id, s.producer_name])).toEqual([['wf-active', 'poll']])
    expect((await db.schedules.listDue(NOW + 50)).map((s) => s.producer_name)).toEqual(['poll', 'nightly'])
    expect(await db.schedules.nextDueAt()).toBe(NOW)
  })

  it('has no next due time without active schedules', async () => {
    const { db } = env()
    expect(await db.schedules.nextDueAt()).toBeUndefined()
  })

  it('makes the named producers, or all, due now without moving earlier ones later', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await db.schedules.sync('wf-1', [{ ...poll, nextRunAt: NOW + 500 }, nightly], NOW)
    expect(await db.schedules.makeDue('wf-1', NOW + 10, ['poll'])).toBe(1)
    expect(await db.schedules.makeDue('wf-1', NOW + 10, [])).toBe(0)
    expect(await db.schedules.makeDue('wf-1', NOW + 20)).toBe(1)
    expect((await db.schedules.list('wf-1')).map((s) => [s.producer_name, s.next_run_at])).toEqual([
      ['nightly', NOW + 20],
      ['poll', NOW + 10],
    ])
  })
})
