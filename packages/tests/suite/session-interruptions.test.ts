/** Sessions that end early: a stop before the producers ran, and a fault of the database under a run. */
import { defineTool } from '@ledgerflow/agent'
import { expect, it } from 'vitest'
import { z } from 'zod'
import { checkInvariants } from '../src/kit/index.js'
import { describeBackends } from './backends.js'
import { PIPELINE, consumer, pipelineEnv, producer, script } from './fixtures.js'

describeBackends('a session that stops early', (backend) => {
  it('makes the producers it did not get to run due again, so no scheduled run is lost', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    await env.engine.runSession('wf', { trigger: 'schedule' })
    await env.clock.advance(5 * 60_000)
    await env.engine.stop() // stopping: the session stops before its first run
    const result = await env.engine.runSession('wf', { trigger: 'schedule' })
    expect(result).toMatchObject({ status: 'suspended', reason: 'worker stopping' })
    expect(await env.db.runs.listBySession(result.sessionId)).toEqual([])
    const [schedule] = await env.db.schedules.list('wf')
    expect(schedule!.next_run_at).toBe(env.clock.now())
  })

  it('closes the session failed (internal) and pauses the interrupted run when the database faults under it', async () => {
    let drop: () => Promise<void> = async () => {}
    const saboteur = defineTool({
      namespace: 'Ops',
      name: 'sabotage',
      kind: 'read',
      description: 'Drops a table the engine writes at the prepare checkpoint.',
      input: z.unknown(),
      async execute() {
        await drop()
        return null
      },
    })
    await using env = await pipelineEnv({ ...backend, tools: [saboteur] })
    drop = async () => {
      await env.db.kysely.schema.dropTable('consumer_wakeups').execute()
    }
    const prepare = `async () => { await Ops.sabotage({}); return { reservations: [] } }`
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send', { prepare })] }) })
    const result = await env.engine.runSession('wf')
    expect(result).toMatchObject({ status: 'failed', errorType: 'internal', error: expect.stringContaining('consumer_wakeups') })
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'error', error_type: 'internal' })
    const runs = await env.db.runs.listUnfinished('wf')
    expect(runs.map((r) => [r.phase, r.status, r.error_type])).toEqual([['preparing', 'paused', 'internal']])
    expect((await checkInvariants(env.db)).filter((v) => v.invariant === 1)).toEqual([])
  })
})
