import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, seedWorkflow } from '../test-helpers/seed.js'

defineStoreSuite('consumer wake-up store', (env) => {
  it('keeps workflows.consumer_sleep_until equal to the earliest wake time', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await db.wakeups.set('wf-1', 'reply', { idleAfterSequence: 4, wakeAt: NOW + 500, now: NOW })
    await db.wakeups.set('wf-1', 'digest', { idleAfterSequence: null, wakeAt: NOW + 100, now: NOW })
    expect((await db.workflows.get('wf-1'))?.consumer_sleep_until).toBe(NOW + 100)
    await db.wakeups.set('wf-1', 'digest', { idleAfterSequence: null, wakeAt: null, now: NOW + 1 })
    expect((await db.workflows.get('wf-1'))?.consumer_sleep_until).toBe(NOW + 500)
    await db.wakeups.set('wf-1', 'reply', { idleAfterSequence: 9, wakeAt: null, now: NOW + 2 })
    expect((await db.workflows.get('wf-1'))?.consumer_sleep_until).toBeNull()
    expect((await db.wakeups.list('wf-1')).map((w) => [w.consumer_name, w.idle_after_sequence, w.wake_at])).toEqual([
      ['digest', null, null],
      ['reply', 9, null],
    ])
  })
})
