import { expect, it } from 'vitest'
import { checkInvariants, createTestEngine, recordingTool } from '../../../tests/src/kit/index.js'
import { type Backend, describeBackends } from '../../../tests/suite/backends.js'

/**
 * Two consumers on one topic, with no log line and no publish, so that on PostgreSQL each run commits in one
 * statement (which then also reads the session's next pick view). `count` keeps a running count in its state;
 * `idle` never reserves anything and sleeps after its first look.
 */
const code = `
const workflow = {
  topics: { "in": {}, "other": {} },
  producers: {},
  consumers: {
    count: {
      subscribe: ["in"],
      prepare: async (state) => {
        const [e] = await Topics.peek({ topic: "in", limit: 1 })
        if (!e) return { reservations: [], data: null }
        return { reservations: [{ topic: "in", ids: [e.messageId] }], data: { id: e.messageId, seen: state ? state.n : 0 } }
      },
      mutate: async (p) => { await Email.send({ id: p.data.id, seen: p.data.seen }) },
      next: async (p) => ({ n: p.data.seen + 1, last: p.data.id }),
    },
    idle: {
      subscribe: ["other"],
      prepare: async () => ({ reservations: [], data: null }),
      next: async () => null,
    },
  },
}
`

async function setup(backend: Backend) {
  const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
  const env = await createTestEngine({ ...backend, tools: [email.tool] })
  await env.engine.deployWorkflow({ id: 'wf', title: 'Next pick', code })
  // Every pick view read by a session (the store's own method, counted where the engine calls it).
  let reads = 0
  const pickView = env.db.workflows.pickView.bind(env.db.workflows)
  env.db.workflows.pickView = (...args) => {
    reads++
    return pickView(...args)
  }
  return { env, email, reads: () => reads }
}

describeBackends('session loop: the next pick view', (backend) => {
  it('takes each next pick from the commit of the run before it on PostgreSQL, with the same runs and states', async () => {
    const { env, email, reads } = await setup(backend)
    await using _ = env
    for (const id of ['e1', 'e2', 'e3', 'e4']) await env.engine.publish('wf', 'in', { messageId: id, title: id, payload: {} })
    const result = await env.engine.runSession('wf')
    expect(result.status).toBe('completed')
    // Each run's prepare saw the state the run before it committed, so the states of the view were the new ones.
    expect(email.calls.map((c) => c.input)).toEqual([
      { id: 'e1', seen: 0 },
      { id: 'e2', seen: 1 },
      { id: 'e3', seen: 2 },
      { id: 'e4', seen: 3 },
    ])
    expect((await env.db.handlerState.get('wf', 'count'))?.state).toBe('{"n":4,"last":"e4"}')
    const runs = await env.db.runs.listByWorkflow('wf')
    expect(runs.map((r) => `${r.handler_name} ${r.status}`).sort()).toEqual(['count committed', 'count committed', 'count committed', 'count committed'])
    // The view after the last commit showed no pending event and no wake-up due: the session ended without a read.
    // SQLite reads before every pick (a read there costs no round trip): 4 runs, then the pick that finds nothing.
    expect(reads()).toBe(backend.backend === 'postgres' ? 1 : 5)
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })

  it('sees events published during a run in the next pick, whichever way the view was read', async () => {
    const { env, email } = await setup(backend)
    await using _ = env
    await env.engine.publish('wf', 'in', { messageId: 'e1', title: 'e1', payload: {} })
    // Published while e1's run executes, committed before the run's commit: the commit (which reads the next pick
    // view on PostgreSQL) and any read of the view wait for it. Without the wait the publish could commit after the
    // commit's statement began, and the event would be left for the worker's next look, as a write committed after a
    // read is.
    let publishing: Promise<unknown> | undefined
    env.engine.on('run:start', () => {
      publishing ??= env.engine.publish('wf', 'in', { messageId: 'e2', title: 'e2', payload: {} })
    })
    const commitSeeing = env.db.runs.commitSeeing.bind(env.db.runs)
    env.db.runs.commitSeeing = async (...args) => {
      await publishing
      return commitSeeing(...args)
    }
    const pickView = env.db.workflows.pickView.bind(env.db.workflows)
    env.db.workflows.pickView = async (...args) => {
      await publishing
      return pickView(...args)
    }
    await env.engine.runSession('wf')
    expect(email.calls.map((c) => c.input)).toEqual([
      { id: 'e1', seen: 0 },
      { id: 'e2', seen: 1 },
    ])
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })

  it('does not pick a consumer again whose empty prepare put it to sleep, with the view from its own commit', async () => {
    const { env, reads } = await setup(backend)
    await using _ = env
    await env.engine.publish('wf', 'other', { messageId: 'o1', title: 'o1', payload: {} })
    const result = await env.engine.runSession('wf')
    expect(result.status).toBe('completed')
    const runs = await env.db.runs.listByWorkflow('wf')
    expect(runs.map((r) => `${r.handler_name} ${r.status}`)).toEqual(['idle committed'])
    // The run's prepared checkpoint wrote the consumer's wake-up row (idle up to o1) before its commit, so the view
    // its commit read already had it: the session ended without running it again, and without another read.
    expect(reads()).toBe(backend.backend === 'postgres' ? 1 : 2)
    expect((await env.db.wakeups.list('wf')).find((w) => w.consumer_name === 'idle')?.idle_after_sequence).toBe(1)
    expect((await env.db.events.listByWorkflow('wf')).map((e) => e.status)).toEqual(['pending'])
  })
})
