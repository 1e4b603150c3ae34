import { describe, expect, it } from 'vitest'
import { MINUTE, T0, createTestEngine, recordingTool } from '../test-helpers/worker-env.js'
import { findWork, shuffled } from './find-work.js'

/** A producer every 5 minutes that reads `Feed.get`, and a consumer that declines events and asks to be woken. */
const code = (options: { wakeAt?: number } = {}) => `
const workflow = {
  topics: { "in": {} },
  producers: {
    poll: { schedule: { interval: "5m" }, publishes: ["in"], handler: async () => { await Feed.get({}) } },
  },
  consumers: {
    handle: {
      subscribe: ["in"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "in", limit: 1 })
        if (!e || e.payload.decline) return { reservations: [] ${options.wakeAt ? `, wakeAt: ${options.wakeAt}` : ''} }
        return { reservations: [{ topic: "in", ids: [e.messageId] }] }
      },
    },
  },
}
`

async function setup(workflowCode = code()) {
  const feed = recordingTool({ namespace: 'Feed', name: 'get', kind: 'read' })
  const env = await createTestEngine({ tools: [feed.tool] })
  await env.engine.deployWorkflow({ id: 'wf', title: 'Plan', code: workflowCode })
  const plan = (at = env.clock.now()) => findWork(env.engine.context, at)
  return { env, feed, plan }
}

describe('findWork', () => {
  it('plans a schedule session for a workflow whose producer is due, and the next run after it', async () => {
    const { env, plan } = await setup()
    await using _ = env
    expect(await plan()).toEqual({ items: [{ workflowId: 'wf', trigger: 'schedule' }], nextWakeAt: undefined })

    await env.engine.runSessionIfIdle('wf', { trigger: 'schedule' })
    expect(await plan()).toEqual({ items: [], nextWakeAt: T0 + 5 * MINUTE })
    expect(await plan(T0 + 5 * MINUTE)).toEqual({ items: [{ workflowId: 'wf', trigger: 'schedule' }], nextWakeAt: undefined })
  })

  it('plans an event session for pending events a consumer is eligible for', async () => {
    const { env, plan } = await setup()
    await using _ = env
    await env.engine.runSession('wf', { trigger: 'schedule' })
    await env.engine.publish('wf', 'in', { messageId: 'e1', title: 'E1', payload: {} })
    expect((await plan()).items).toEqual([{ workflowId: 'wf', trigger: 'event' }])
  })

  it('plans nothing for pending events the consumer already declined', async () => {
    const { env, plan } = await setup()
    await using _ = env
    await env.engine.runSession('wf', { trigger: 'schedule' })
    await env.engine.publish('wf', 'in', { messageId: 'e1', title: 'E1', payload: { decline: true } })
    await env.engine.runSession('wf', { trigger: 'event' })
    expect(await env.db.events.countByStatus('wf')).toEqual({ pending: 1 })
    expect(await plan()).toEqual({ items: [], nextWakeAt: T0 + 5 * MINUTE })
  })

  it("plans an event session once a consumer's wakeAt has come, and wakes for it before", async () => {
    const { env, plan } = await setup(code({ wakeAt: T0 + 2 * MINUTE }))
    await using _ = env
    await env.engine.runSession('wf', { trigger: 'schedule' })
    await env.engine.publish('wf', 'in', { messageId: 'e1', title: 'E1', payload: { decline: true } })
    await env.engine.runSession('wf', { trigger: 'event' })

    expect(await plan()).toEqual({ items: [], nextWakeAt: T0 + 2 * MINUTE })
    expect(await plan(T0 + 2 * MINUTE)).toEqual({ items: [{ workflowId: 'wf', trigger: 'event' }], nextWakeAt: T0 + 5 * MINUTE })
  })

  it("plans a retry session once a waiting run's backoff ends, and wakes for it before", async () => {
    const { env, feed, plan } = await setup()
    await using _ = env
    feed.script({ error: 'network', message: 'feed down' })
    expect(await env.engine.runSession('wf', { trigger: 'schedule' })).toMatchObject({ status: 'suspended' })
    const [run] = await env.db.runs.listByWorkflow('wf')
    expect(run).toMatchObject({ status: 'waiting' })
    const retryAt = run!.retry_at!
    expect(retryAt).toBeGreaterThan(T0)

    expect(await plan()).toEqual({ items: [], nextWakeAt: retryAt })
    expect((await plan(retryAt)).items).toEqual([{ workflowId: 'wf', trigger: 'retry' }])
  })

  it('plans one item per workflow, preferring retry to schedule to event', async () => {
    const { env, feed, plan } = await setup()
    await using _ = env
    await env.engine.runSession('wf', { trigger: 'schedule' })
    await env.engine.publish('wf', 'in', { messageId: 'e1', title: 'E1', payload: {} })
    expect((await plan()).items).toEqual([{ workflowId: 'wf', trigger: 'event' }])
    expect((await plan(T0 + 5 * MINUTE)).items).toEqual([{ workflowId: 'wf', trigger: 'schedule' }])

    await env.clock.advance(5 * MINUTE)
    feed.script({ error: 'network' })
    await env.engine.runSession('wf', { trigger: 'schedule' })
    const [waiting] = await env.db.runs.listByWorkflow('wf', { status: 'waiting' })
    expect((await plan(waiting!.retry_at! + 10 * MINUTE)).items).toEqual([{ workflowId: 'wf', trigger: 'retry' }])
  })

  it('skips workflows that are not active', async () => {
    const { env, plan } = await setup()
    await using _ = env
    await env.engine.pause('wf')
    expect(await plan(T0 + 60 * MINUTE)).toEqual({ items: [], nextWakeAt: undefined })
    await env.engine.resume('wf')
    expect((await plan()).items).toEqual([{ workflowId: 'wf', trigger: 'schedule' }])
  })

  it('skips a workflow with an open session but still reports the next future due time', async () => {
    const { env, plan } = await setup()
    await using _ = env
    await env.engine.deployWorkflow({ id: 'later', title: 'Later', code: code() })
    await env.engine.runSession('later', { trigger: 'schedule' })
    // Open a session of `wf` by hand (as another worker would), leaving its producer due.
    env.crashAt({ point: 'session:after-open' })
    await expect(env.engine.runSession('wf', { trigger: 'event' })).rejects.toThrow(/simulated crash/)

    expect(await plan()).toEqual({ items: [], nextWakeAt: T0 + 5 * MINUTE })
  })

  describe('with a limit (a worker with free slots)', () => {
    /** Five workflows with an eligible pending event each, and `declined` whose only event its consumer declined. */
    async function many() {
      const { env } = await setup()
      const ids = ['a', 'b', 'c', 'd', 'e']
      for (const id of [...ids, 'declined']) {
        await env.engine.deployWorkflow({ id, title: id, code: code().replace(/producers: \{[\s\S]*?\n  \},\n/, '') })
      }
      await env.engine.publish('declined', 'in', { messageId: 'x', title: 'X', payload: { decline: true } })
      await env.engine.runSession('declined', { trigger: 'event' })
      for (const id of ids) await env.engine.publish(id, 'in', { messageId: `${id}1`, title: id, payload: {} })
      return { env, ids }
    }
    const eventItems = (items: { workflowId: string; trigger: string }[]) => items.filter((i) => i.trigger === 'event').map((i) => i.workflowId)

    it('checks workflows with pending events only until it has found as many items as the limit', async () => {
      const { env, ids } = await many()
      await using _ = env
      const checked: string[][] = []
      const order = (candidates: string[]) => {
        checked.push(candidates)
        return ['declined', ...candidates.filter((c) => c !== 'declined').reverse()]
      }
      const found = await findWork(env.engine.context, env.clock.now(), { limit: 3, order })
      // `wf`'s due producer takes one of the three; the declined workflow was checked first and does not count; then
      // the first two in the given order.
      expect(found.items[0]).toEqual({ workflowId: 'wf', trigger: 'schedule' })
      expect(eventItems(found.items)).toEqual(['e', 'd'])
      expect([...checked[0]!].sort()).toEqual([...ids, 'declined'].sort())
      expect(eventItems((await findWork(env.engine.context, env.clock.now())).items).sort()).toEqual(ids)
    })

    it('leaves out the workflows the caller skips, without counting them against the limit', async () => {
      const { env } = await many()
      await using _ = env
      const found = await findWork(env.engine.context, env.clock.now(), { limit: 3, order: (c) => [...c].sort(), skip: (id) => id === 'a' || id === 'c' || id === 'wf' })
      expect(found.items).toEqual([
        { workflowId: 'b', trigger: 'event' },
        { workflowId: 'd', trigger: 'event' },
        { workflowId: 'e', trigger: 'event' },
      ])
    })

    it('still lists a due producer when the limit is zero, but checks no pending events', async () => {
      const { env } = await many()
      await using _ = env
      const found = await findWork(env.engine.context, env.clock.now(), { limit: 0 })
      expect(found.items).toEqual([{ workflowId: 'wf', trigger: 'schedule' }])
    })
  })

  it('shuffles a copy, keeping every item once', () => {
    const items = ['a', 'b', 'c', 'd', 'e', 'f']
    const draws = [0.9, 0.1, 0.5, 0.99, 0]
    let i = 0
    const out = shuffled(items, () => draws[i++]!)
    expect(out).not.toEqual(items)
    expect([...out].sort()).toEqual(items)
    expect(items).toEqual(['a', 'b', 'c', 'd', 'e', 'f'])
    expect(shuffled([], () => 0.5)).toEqual([])
  })
})
