import { describe, expect, it } from 'vitest'
import { checkInvariants } from '../../../tests/src/kit/index.js'
import { MINUTE, T0, advanceTo, recordingTool, workerEnv, workerIdle } from '../test-helpers/worker-env.js'

/** No producer; one consumer that sends one email per event, declines `decline` events and may ask to be woken. */
const consumer = (options: { wakeAt?: number } = {}) => `
const workflow = {
  topics: { "in": {} },
  producers: {},
  consumers: {
    send: {
      subscribe: ["in"],
      prepare: async () => {
        const pending = await Topics.peek({ topic: "in", limit: 10 })
        const e = pending.find((x) => !x.payload.decline)
        if (!e) return { reservations: [] ${options.wakeAt ? `, wakeAt: ${options.wakeAt}` : ''} }
        return { reservations: [{ topic: "in", ids: [e.messageId] }], data: e.payload, ui: { title: "Send " + e.messageId } }
      },
      mutate: async (p) => { await Email.send({ to: p.data.to }) },
    },
  },
}
`

async function setup(code = consumer()) {
  const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
  const env = await workerEnv({ tools: [email.tool] })
  await env.engine.deployWorkflow({ id: 'wf', title: 'Sender', code })
  const triggers = async () => (await env.db.sessions.listByWorkflow('wf')).reverse().map((s) => [s.trigger, s.status, s.start_timestamp])
  return { env, email, triggers }
}

describe('worker: sessions for pending work', () => {
  it('starts an event session at once for an event published through the engine', async () => {
    const { env, email, triggers } = await setup()
    await using _ = env
    await env.engine.start()
    await workerIdle(env)
    expect(await triggers()).toEqual([])

    await env.engine.publish('wf', 'in', { messageId: 'e1', title: 'E1', payload: { to: 'a@x' } })
    await workerIdle(env)

    expect(await triggers()).toEqual([['event', 'completed', T0]])
    expect(email.calls.map((c) => c.input)).toEqual([{ to: 'a@x' }])
    await env.engine.stop()
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })

  it('finds events written by another process at its next idle check', async () => {
    const { env, triggers } = await setup()
    await using _ = env
    await env.engine.start()
    await workerIdle(env)
    // Written straight to the database, as a CLI in another process would: no engine event wakes the worker.
    await env.db.transaction((tx) => tx.events.publish('wf', [{ id: 'ext_1', topic: 'in', messageId: 'e1', title: 'E1', payload: '{"to":"b@x"}', createdByRunId: null }], T0))
    await advanceTo(env, T0 + 60 * MINUTE - 1)
    expect(await triggers()).toEqual([])
    await advanceTo(env, T0 + 60 * MINUTE)
    expect(await triggers()).toEqual([['event', 'completed', T0 + 60 * MINUTE]])
    await env.engine.stop()
  })

  it("starts an event session when a consumer's wakeAt comes, and not before", async () => {
    const wakeAt = T0 + 7 * MINUTE
    const { env, triggers } = await setup(consumer({ wakeAt }))
    await using _ = env
    await env.engine.start()
    await env.engine.publish('wf', 'in', { messageId: 'later', title: 'Later', payload: { decline: true } })
    await workerIdle(env)
    expect(await triggers()).toEqual([['event', 'completed', T0]])
    expect(env.clock.nextTimerAt).toBe(wakeAt)

    await advanceTo(env, wakeAt - 1)
    expect(await triggers()).toHaveLength(1)
    await advanceTo(env, wakeAt)
    expect(await triggers()).toEqual([
      ['event', 'completed', T0],
      ['event', 'completed', wakeAt],
    ])
    await env.engine.stop()
  })

  it('starts a retry session when a backoff ends, and the waiting run commits', async () => {
    const { env, email, triggers } = await setup()
    await using _ = env
    email.script({ error: 'network', message: 'smtp down', notApplied: true })
    await env.engine.start()
    await env.engine.publish('wf', 'in', { messageId: 'e1', title: 'E1', payload: { to: 'a@x' } })
    await workerIdle(env)
    const [run] = await env.db.runs.listByWorkflow('wf')
    expect(run).toMatchObject({ status: 'waiting', phase: 'prepared' })
    expect(env.clock.nextTimerAt).toBe(run!.retry_at)

    await advanceTo(env, run!.retry_at!)
    expect(await triggers()).toEqual([
      ['event', 'suspended', T0],
      ['retry', 'completed', run!.retry_at],
    ])
    expect(await env.db.runs.get(run!.id)).toMatchObject({ status: 'committed', phase: 'committed' })
    expect(email.effects.entries()).toHaveLength(1)
    await env.engine.stop()
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })

  it('runs nothing for a paused workflow and wakes when it is resumed', async () => {
    const { env, triggers } = await setup()
    await using _ = env
    await env.engine.pause('wf')
    await env.engine.start()
    await env.engine.publish('wf', 'in', { messageId: 'e1', title: 'E1', payload: { to: 'a@x' } })
    await advanceTo(env, T0 + 3 * 60 * MINUTE)
    expect(await triggers()).toEqual([])

    await env.engine.resume('wf')
    await workerIdle(env)
    expect(await triggers()).toEqual([['event', 'completed', T0 + 3 * 60 * MINUTE]])
    await env.engine.stop()
  })

  it('leaves a workflow in error alone after its session failed', async () => {
    const { env, email, triggers } = await setup()
    await using _ = env
    email.script({ error: 'logic', message: 'bad address' })
    await env.engine.start()
    await env.engine.publish('wf', 'in', { messageId: 'e1', title: 'E1', payload: { to: 'nobody' } })
    await workerIdle(env)
    await advanceTo(env, T0 + 5 * 60 * MINUTE)

    expect(await triggers()).toEqual([['event', 'failed', T0]])
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'error' })
    expect(env.events.list('worker:session')).toEqual([
      { workflowId: 'wf', trigger: 'event', result: expect.objectContaining({ status: 'failed', error: expect.stringContaining('bad address') }) },
    ])
    await env.engine.stop()
  })
})
