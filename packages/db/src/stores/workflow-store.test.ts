import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, scriptRow, seedWorkflow, workflowRow } from '../test-helpers/seed.js'

defineStoreSuite('workflow store: transitionStatus', (env) => {
  it('returns false and changes nothing when the current status is not in from', async () => {
    const { db } = env()
    await seedWorkflow(db)
    const before = await db.workflows.get('wf-1')
    expect(await db.workflows.transitionStatus('wf-1', { from: ['paused', 'draft'], to: 'error', error: 'x', now: NOW + 1 })).toBe(false)
    expect(await db.workflows.get('wf-1')).toEqual(before)
  })

  it('applies when the current status is one of several in from', async () => {
    const { db } = env()
    await seedWorkflow(db)
    expect(await db.workflows.transitionStatus('wf-1', { from: ['draft', 'active'], to: 'paused', now: NOW + 5 })).toBe(true)
    expect(await db.workflows.get('wf-1')).toMatchObject({ status: 'paused', updated_at: NOW + 5 })
  })

  it('sets, keeps or clears the error fields as asked', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await db.workflows.transitionStatus('wf-1', { from: ['active'], to: 'error', error: 'bad script', errorType: 'logic', now: NOW + 1 })
    expect(await db.workflows.get('wf-1')).toMatchObject({ status: 'error', error: 'bad script', error_type: 'logic' })
    // Omitted error fields are left as they are.
    await db.workflows.transitionStatus('wf-1', { from: ['error'], to: 'paused', now: NOW + 2 })
    expect(await db.workflows.get('wf-1')).toMatchObject({ status: 'paused', error: 'bad script', error_type: 'logic' })
    // null clears them.
    await db.workflows.transitionStatus('wf-1', { from: ['paused'], to: 'active', error: null, errorType: null, now: NOW + 3 })
    expect(await db.workflows.get('wf-1')).toMatchObject({ status: 'active', error: null, error_type: null })
  })

  it('returns false when from is empty or the workflow does not exist', async () => {
    const { db } = env()
    await seedWorkflow(db)
    expect(await db.workflows.transitionStatus('wf-1', { from: [], to: 'paused', now: NOW })).toBe(false)
    expect(await db.workflows.transitionStatus('nope', { from: ['active'], to: 'paused', now: NOW })).toBe(false)
    expect((await db.workflows.get('wf-1'))?.status).toBe('active')
  })

  it('lets exactly one of two racing transitions from the same status apply', async () => {
    const { db } = env()
    await seedWorkflow(db)
    const results = await Promise.all([
      db.workflows.transitionStatus('wf-1', { from: ['active'], to: 'paused', now: NOW + 1 }),
      db.workflows.transitionStatus('wf-1', { from: ['active'], to: 'error', error: 'x', now: NOW + 1 }),
    ])
    expect(results.filter(Boolean)).toHaveLength(1)
  })
})

defineStoreSuite('workflow store: other writes and reads', (env) => {
  it('lists workflows by creation, filtered by status when asked', async () => {
    const { db } = env()
    await db.workflows.insert(workflowRow('b', { created_at: NOW + 2 }))
    await db.workflows.insert(workflowRow('a', { created_at: NOW + 1, status: 'paused' }))
    await db.workflows.insert(workflowRow('c', { created_at: NOW + 2, status: 'paused' }))
    expect((await db.workflows.list()).map((w) => w.id)).toEqual(['a', 'b', 'c'])
    expect((await db.workflows.list({ status: 'paused' })).map((w) => w.id)).toEqual(['a', 'c'])
  })

  it('points the workflow at a script version and copies its config', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await db.scripts.insert(scriptRow('wf-1', 'v2', { version: 2, handler_config: '{"v":2}' }))
    expect(await db.workflows.setActiveScript({ id: 'wf-1', scriptId: 'v2', handlerConfig: '{"v":2}', now: NOW + 9 })).toBe(true)
    expect(await db.workflows.get('wf-1')).toMatchObject({ active_script_id: 'v2', handler_config: '{"v":2}', updated_at: NOW + 9 })
    expect(await db.workflows.setActiveScript({ id: 'nope', scriptId: 'v2', handlerConfig: '{}', now: NOW })).toBe(false)
  })

  it('renames a workflow and refuses an empty title', async () => {
    const { db } = env()
    await seedWorkflow(db)
    expect(await db.workflows.setTitle('wf-1', 'Inbox', NOW + 1)).toBe(true)
    expect((await db.workflows.get('wf-1'))?.title).toBe('Inbox')
    await expect(db.workflows.setTitle('wf-1', '', NOW + 2)).rejects.toThrow()
    expect(await db.workflows.setTitle('nope', 'x', NOW)).toBe(false)
  })

  it('hands out consecutive event sequence numbers, never the same twice', async () => {
    const { db } = env()
    await seedWorkflow(db)
    expect(await db.workflows.allocateEventSequence('wf-1', 3)).toBe(1)
    expect(await db.workflows.allocateEventSequence('wf-1', 1)).toBe(4)
    const parallel = await Promise.all([1, 2, 3].map(() => db.workflows.allocateEventSequence('wf-1', 2)))
    expect(new Set(parallel).size).toBe(3)
    expect(parallel.every((first) => first >= 5)).toBe(true)
    expect((await db.workflows.get('wf-1'))?.event_sequence).toBe(10)
  })

  it('throws when allocating a sequence of an unknown workflow', async () => {
    const { db } = env()
    await expect(db.workflows.allocateEventSequence('nope', 1)).rejects.toThrow()
  })
})
