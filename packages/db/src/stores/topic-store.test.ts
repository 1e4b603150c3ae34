import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, TOPIC, newId, seedWorkflow } from '../test-helpers/seed.js'

defineStoreSuite('topic store', (env) => {
  it('creates only the missing topics and keeps existing ids', async () => {
    const { db } = env()
    await seedWorkflow(db)
    const before = await db.topics.getByName('wf-1', TOPIC)
    await db.topics.ensure('wf-1', [TOPIC, 'b', 'b', 'a'], { now: NOW, newId })
    await db.topics.ensure('wf-1', [], { now: NOW, newId })
    expect((await db.topics.list('wf-1')).map((t) => t.name)).toEqual(['a', 'b', TOPIC])
    expect((await db.topics.getByName('wf-1', TOPIC))?.id).toBe(before?.id)
    expect(await db.topics.getByName('wf-1', 'nope')).toBeUndefined()
  })
})
