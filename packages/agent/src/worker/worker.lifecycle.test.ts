import { describe, expect, it } from 'vitest'
import { checkInvariants } from '../../../tests/src/kit/index.js'
import { MINUTE, T0, gatedTool, loopTurns, openSessions, recordingTool, until, workerEnv, workerIdle } from '../test-helpers/worker-env.js'

/** One consumer: each event waits at the gate in prepare, then one email is sent. */
const code = `
const workflow = {
  topics: { "in": {} },
  producers: {},
  consumers: {
    send: {
      subscribe: ["in"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "in", limit: 1 })
        if (!e) return { reservations: [] }
        await Gate.wait({ id: e.messageId })
        return { reservations: [{ topic: "in", ids: [e.messageId] }], data: { id: e.messageId } }
      },
      mutate: async (p) => { await Email.send({ id: p.data.id }) },
    },
  },
}
`

async function setup(worker = {}) {
  const gate = gatedTool()
  const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
  const env = await workerEnv({ tools: [gate.tool, email.tool], worker })
  await env.engine.deployWorkflow({ id: 'wf', title: 'Lifecycle', code })
  const publish = async (...ids: string[]) => {
    for (const id of ids) await env.engine.publish('wf', 'in', { messageId: id, title: id, payload: {} })
  }
  const openRows = async () => (await env.db.sessions.listOpen()).length
  return { env, gate, email, publish, openRows }
}

describe('worker: graceful stop', () => {
  it('finishes the current run, then closes its session: no session stays open after stop()', async () => {
    const { env, gate, email, publish, openRows } = await setup()
    await using _ = env
    using _open = gate.openOnExit()
    await env.engine.start()
    await publish('e1', 'e2', 'e3')
    await until(() => gate.waiting === 1, 'the first run at the gate')

    const stopped = env.engine.stop()
    gate.releaseOne() // the run in progress goes on to its mutation and commits
    await stopped

    expect(email.calls.map((c) => c.input)).toEqual([{ id: 'e1' }])
    expect(await openRows()).toBe(0)
    const [session] = await env.db.sessions.listByWorkflow('wf')
    expect(session).toMatchObject({ status: 'suspended', error: 'worker stopping', handler_run_count: 1 })
    expect(await env.db.runs.listByWorkflow('wf')).toEqual([expect.objectContaining({ status: 'committed', phase: 'committed' })])
    expect(await env.db.events.countByStatus('wf')).toEqual({ consumed: 1, pending: 2 })
    expect(env.events.list('worker:stop')).toEqual([{ workerId: env.engine.workerId, graceful: true }])
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })

  it('continues the remaining work when started again after a stop', async () => {
    const { env, gate, email, publish, openRows } = await setup()
    await using _ = env
    using _open = gate.openOnExit()
    await env.engine.start()
    await publish('e1', 'e2')
    await until(() => gate.waiting === 1, 'the first run at the gate')
    const stopped = env.engine.stop()
    gate.releaseOne()
    await stopped

    await env.engine.start()
    await until(() => gate.waiting === 1, 'the second run at the gate')
    gate.releaseOne()
    await workerIdle(env)
    await env.engine.stop()

    expect(email.calls.map((c) => c.input)).toEqual([{ id: 'e1' }, { id: 'e2' }])
    expect((await env.db.sessions.listByWorkflow('wf')).map((s) => s.status)).toEqual(['completed', 'suspended'])
    expect(await openRows()).toBe(0)
  })

  it('stops an idle worker at once, leaving no timer behind', async () => {
    const { env } = await setup()
    await using _ = env
    await env.engine.start()
    await workerIdle(env)
    expect(env.clock.pendingTimers).toBe(1)
    await env.engine.stop()
    expect(env.clock.pendingTimers).toBe(0)
    const turns = loopTurns(env)
    await env.clock.advance(24 * 60 * MINUTE)
    expect(loopTurns(env)).toBe(turns)
  })
})

describe('worker: recovery', () => {
  it('recovers the session a crashed worker left open before it looks for new work', async () => {
    const { env, gate, email, publish, openRows } = await setup({ forceRecoveryAtStart: true })
    await using _ = env
    using _open = gate.openOnExit()
    await publish('e1', 'e2')
    env.crashAt({ point: 'run:after-create' })
    await expect(env.engine.runSession('wf', { trigger: 'event' })).rejects.toThrow(/simulated crash/)
    expect(await openRows()).toBe(1)

    await env.restart()
    const started = env.engine.start()
    await until(() => gate.waiting === 1, 'the recovered run at the gate')
    expect(env.events.list('session:recovered')).toHaveLength(1)
    expect(loopTurns(env)).toBe(0) // recovery first
    gate.releaseOne()
    await until(() => gate.waiting === 1, 'the second run at the gate')
    gate.releaseOne()
    await started
    await workerIdle(env)
    await env.engine.stop()

    expect(email.calls.map((c) => c.input)).toEqual([{ id: 'e1' }, { id: 'e2' }])
    expect((await env.db.sessions.listByWorkflow('wf')).map((s) => s.status)).toEqual(['completed'])
    expect(env.events.list('recovery:done')[0]).toEqual({ sessions: 1, runs: 1 })
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })

  it("takes over a dead worker's session once its lease has expired", async () => {
    const { env, gate, publish, openRows } = await setup({ recoveryIntervalMs: MINUTE, idleCheckMs: 60 * MINUTE })
    await using _ = env
    using _open = gate.openOnExit()
    await publish('e1')
    env.crashAt({ point: 'run:after-create' })
    await expect(env.engine.runSession('wf', { trigger: 'event' })).rejects.toThrow(/simulated crash/)
    const [orphan] = await env.db.sessions.listOpen()
    expect(orphan!.lease_expires_at).toBe(T0 + 60_000)

    await env.restart()
    await env.engine.start()
    await workerIdle(env)
    expect(env.events.count('session:recovered')).toBe(0) // the lease is still valid: maybe the owner lives

    await env.clock.advanceTo(T0 + MINUTE)
    await until(() => gate.waiting === 1, 'the recovered run at the gate')
    expect(env.events.list('session:recovered')).toEqual([{ sessionId: orphan!.id, workflowId: 'wf', previousOwner: orphan!.owner }])
    gate.releaseOne()
    await workerIdle(env)
    await env.engine.stop()
    expect(await openRows()).toBe(0)
  })

  it('closes a session left open by a worker that stopped in the middle of start-up recovery', async () => {
    const { env, gate, publish, openRows } = await setup({ forceRecoveryAtStart: true })
    await using _ = env
    using _open = gate.openOnExit()
    await publish('e1', 'e2')
    env.crashAt({ point: 'run:after-create' })
    await expect(env.engine.runSession('wf', { trigger: 'event' })).rejects.toThrow(/simulated crash/)
    await env.restart()

    const started = env.engine.start()
    await until(() => gate.waiting === 1, 'the recovered run at the gate')
    const stopped = env.engine.stop()
    gate.releaseOne()
    await stopped
    expect(await openRows()).toBe(0) // stop() waited for the recovered session, not only for the loop
    await started

    expect(loopTurns(env)).toBe(0)
    expect(openSessions(env)).toBe(0)
    expect(await env.db.events.countByStatus('wf')).toEqual({ consumed: 1, pending: 1 })
  })
})

describe('worker: faults outside runs', () => {
  it('backs off instead of spinning when a session cannot be run', async () => {
    const { env, publish } = await setup({ idleCheckMs: MINUTE })
    await using _ = env
    env.crashAt({ point: 'session:after-open' })
    await env.engine.start()
    await publish('e1')
    await until(() => env.events.count('worker:error') === 1, 'the worker error')
    expect(env.events.list('worker:error')[0]).toMatchObject({ workflowId: 'wf' })

    const turns = loopTurns(env)
    await env.clock.advance(10 * MINUTE)
    // One turn per idle check (and one when the backoff ends), never a busy loop.
    expect(loopTurns(env) - turns).toBeLessThanOrEqual(12)
    await env.engine.stop()
  })
})
