/** The gaps the seed's review left open: producer failure order, the full event lifecycle, the migrated schema. */
import { defineTool } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { checkInvariants } from '../src/kit/index.js'
import { describeBackends } from './backends.js'
import { consumer, pipelineEnv, producer, runSummary, script } from './fixtures.js'

describeBackends('a failing producer stops the session', (backend) => {
  it('runs the first producer, fails on the second and never runs the third', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({
      id: 'wf',
      title: 'T',
      code: script({ producers: [producer('first', { count: 1 }), producer('second', { fail: 'second failed' }), producer('third', { count: 1 })], consumers: [consumer('send')] }),
    })
    const result = await env.engine.runSession('wf')
    expect(result).toMatchObject({ status: 'failed', error: expect.stringContaining('second failed') })
    expect(await runSummary(env.db, 'wf')).toEqual(['producer:first:committed:committed', 'producer:second:executing:failed'])
    // The first producer committed, so its event stays; the consumer loop did not run.
    expect(await env.db.events.countByStatus('wf')).toEqual({ pending: 1 })
    expect(env.out.calls).toHaveLength(0)
  })
})

describeBackends('the event lifecycle', (backend) => {
  it('goes pending → reserved in prepare → consumed at commit, and is reserved while the mutation runs', async () => {
    let statusDuringMutation: string | undefined
    let getStatus: () => Promise<string | undefined> = async () => undefined
    const spy = defineTool({
      namespace: 'Spy',
      name: 'send',
      kind: 'mutation',
      description: 'Looks at the event while the mutation runs.',
      input: z.unknown(),
      async execute() {
        statusDuringMutation = await getStatus()
        return { ok: true }
      },
    })
    await using env = await pipelineEnv({ ...backend, tools: [spy] })
    getStatus = async () => (await env.db.events.listByWorkflow('wf'))[0]?.status
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ consumers: [consumer('send', { tool: 'Spy.send' })] }) })
    await env.engine.publish('wf', 'items', { messageId: 'm1', payload: { i: 1 } })
    expect((await env.db.events.listByWorkflow('wf'))[0]).toMatchObject({ status: 'pending', reserved_by_run_id: null })
    await env.engine.runSession('wf', { trigger: 'event' })
    expect(statusDuringMutation).toBe('reserved')
    const [event] = await env.db.events.listByWorkflow('wf')
    const [run] = await env.db.runs.listByWorkflow('wf')
    expect(event).toMatchObject({ status: 'consumed', reserved_by_run_id: run!.id, attempt_number: 1 })
  })

  it('releases the reservation on a failure before the mutation and keeps it on a failure after it', async () => {
    await using env = await pipelineEnv(backend)
    const failing = script({ consumers: [consumer('send', { next: 'async (p) => { if (p.data.id === "after") throw new Error("after") }' }).replace('mutate: async (p) => {', 'mutate: async (p) => { if (p.data.id === "before") throw new Error("before");')] })
    await env.engine.deployWorkflow({ id: 'early', title: 'Fails before', code: failing })
    await env.engine.deployWorkflow({ id: 'late', title: 'Fails after', code: failing })
    await env.engine.publish('early', 'items', { messageId: 'before', payload: { i: 1 } })
    await env.engine.publish('late', 'items', { messageId: 'after', payload: { i: 2 } })
    await env.engine.runSession('early', { trigger: 'event' })
    await env.engine.runSession('late', { trigger: 'event' })
    expect((await env.db.events.listByWorkflow('early')).map((e) => [e.status, e.attempt_number, e.reserved_by_run_id])).toEqual([['pending', 2, null]])
    expect((await env.db.events.listByWorkflow('late')).map((e) => [e.status, e.attempt_number])).toEqual([['reserved', 1]])
    expect(env.out.calls.map((c) => (c.input as { id: string }).id)).toEqual(['after'])
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })

  it('never lets a reservation name an event of another workflow with the same topic and messageId', async () => {
    await using env = await pipelineEnv(backend)
    const greedy = consumer('send', { prepare: 'async () => ({ reservations: [{ topic: "items", ids: ["shared"] }], data: { id: "shared", i: 0 } })' })
    await env.engine.deployWorkflow({ id: 'a', title: 'A', code: script({ consumers: [greedy] }) })
    await env.engine.deployWorkflow({ id: 'b', title: 'B', code: script({ consumers: [consumer('send')] }) })
    await env.engine.publish('b', 'items', { messageId: 'shared', payload: { i: 1 } })
    await env.engine.publish('a', 'items', { messageId: 'other', payload: { i: 2 } })
    const result = await env.engine.runSession('a', { trigger: 'event' })
    expect(result).toMatchObject({ status: 'failed', errorType: 'logic', error: expect.stringContaining("'shared' does not exist") })
    expect((await env.db.events.listByWorkflow('b'))[0]).toMatchObject({ status: 'pending' })
    expect(env.out.calls).toHaveLength(0)
  })
})

describe('the schema under test (SQLite)', () => {
  it('is exactly the schema the migrations create', async () => {
    await using env = await pipelineEnv()
    const fresh = await openDatabase({ sqlite: ':memory:' })
    const dump = (db: typeof fresh) =>
      db.native!.prepare("select type, name, sql from sqlite_master where name not like 'sqlite_%' order by name").all()
    expect(dump(env.db)).toEqual(dump(fresh))
    await fresh.close()
  })
})
