import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, seedWorld } from '../test-helpers/seed.js'

defineStoreSuite('handler state store', (env) => {
  it('inserts a state, then replaces it with the run that wrote it', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    expect(await db.handlerState.get('wf-1', 'reply')).toBeUndefined()
    await db.handlerState.put({ workflowId: 'wf-1', handlerName: 'reply', state: '{"n":1}', runId: null, now: NOW })
    await db.handlerState.put({ workflowId: 'wf-1', handlerName: 'reply', state: '{"n":2}', runId: w.runId, now: NOW + 1 })
    await db.handlerState.put({ workflowId: 'wf-1', handlerName: 'poll', state: null, runId: null, now: NOW })
    expect(await db.handlerState.get('wf-1', 'reply')).toEqual({
      workflow_id: 'wf-1',
      handler_name: 'reply',
      state: '{"n":2}',
      updated_at: NOW + 1,
      updated_by_run_id: w.runId,
    })
    expect((await db.handlerState.listByWorkflow('wf-1')).map((s) => s.handler_name)).toEqual(['poll', 'reply'])
  })
})
