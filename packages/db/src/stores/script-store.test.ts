import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { scriptRow, seedWorkflow } from '../test-helpers/seed.js'

defineStoreSuite('script store', (env) => {
  it('lists script versions and gives the latest, 0 without any', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await db.scripts.insert(scriptRow('wf-1', 'v3', { version: 3 }))
    await db.scripts.insert(scriptRow('wf-1', 'v2', { version: 2 }))
    expect((await db.scripts.listByWorkflow('wf-1')).map((s) => s.version)).toEqual([1, 2, 3])
    expect(await db.scripts.latestVersion('wf-1')).toBe(3)
    expect(await db.scripts.latestVersion('nope')).toBe(0)
    expect((await db.scripts.get('v2'))?.workflow_id).toBe('wf-1')
  })
})
