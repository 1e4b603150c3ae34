import { describe, expect, it } from 'vitest'
import { checkInvariants } from '../../../tests/src/kit/index.js'
import { MINUTE, T0, gatedTool, loopTurns, maxOpenSessions, openSessions, until, workerEnv, workerIdle } from '../test-helpers/worker-env.js'

/** A producer that waits at the gate, so its session stays open until the test releases it. */
const gatedProducer = `
const workflow = {
  topics: {},
  producers: { work: { schedule: { interval: "1h" }, publishes: [], handler: async () => { await Gate.wait({}) } } },
  consumers: {},
}
`

/** A consumer that waits at the gate once per event. */
const gatedConsumer = `
const workflow = {
  topics: { "in": {} },
  producers: {},
  consumers: {
    work: {
      subscribe: ["in"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "in", limit: 1 })
        if (!e) return { reservations: [] }
        await Gate.wait({ id: e.messageId })
        return { reservations: [{ topic: "in", ids: [e.messageId] }] }
      },
    },
  },
}
`

describe('worker: concurrency', () => {
  it('runs at most `concurrency` sessions at once across workflows, and all of them eventually', async () => {
    const gate = gatedTool()
    await using env = await workerEnv({ tools: [gate.tool], worker: { concurrency: 2 } })
    using _open = gate.openOnExit()
    const ids = ['a', 'b', 'c', 'd', 'e']
    for (const id of ids) await env.engine.deployWorkflow({ id, title: id, code: gatedProducer })
    await env.engine.start()

    for (let done = 0; done < ids.length; done++) {
      const expected = Math.min(2, ids.length - done)
      await until(() => gate.waiting === expected && openSessions(env) === expected, `${expected} sessions at the gate`)
      gate.releaseOne()
    }
    await workerIdle(env)

    expect(maxOpenSessions(env)).toBe(2)
    expect(env.events.count('session:end')).toBe(5)
    for (const id of ids) expect((await env.db.sessions.listByWorkflow(id)).map((s) => s.status)).toEqual(['completed'])
    await env.engine.stop()
    expect(await checkInvariants(env.db)).toEqual([])
  })

  it('starts sessions of different workflows side by side up to the limit', async () => {
    const gate = gatedTool()
    await using env = await workerEnv({ tools: [gate.tool], worker: { concurrency: 3 } })
    using _open = gate.openOnExit()
    for (const id of ['a', 'b', 'c', 'd']) await env.engine.deployWorkflow({ id, title: id, code: gatedProducer })
    await env.engine.start()
    await until(() => gate.waiting === 3, 'three sessions at the gate')

    const starts = env.events.list('session:start').map((s) => s.workflowId)
    expect(new Set(starts).size).toBe(3)
    expect(env.events.list('scheduler:tick')[0]).toEqual({ due: 4, started: 3, nextWakeAt: undefined })
    for (let i = 0; i < 4; i++) {
      await until(() => gate.waiting > 0, 'a session at the gate')
      gate.releaseOne()
    }
    await workerIdle(env)
    expect(maxOpenSessions(env)).toBe(3)
    await env.engine.stop()
  })

  it('does not look for work while every slot is taken, and looks again as soon as a session ends', async () => {
    const gate = gatedTool()
    await using env = await workerEnv({ tools: [gate.tool], worker: { concurrency: 1, idleCheckMs: MINUTE } })
    using _open = gate.openOnExit()
    for (const id of ['a', 'b']) await env.engine.deployWorkflow({ id, title: id, code: gatedProducer })
    await env.engine.start()
    await until(() => gate.waiting === 1, 'one session at the gate')
    const turns = loopTurns(env)

    // Five idle checks pass while the only slot is taken: the loop wakes, but queries nothing and reports no tick.
    for (let i = 1; i <= 5; i++) await env.clock.advanceTo(T0 + i * MINUTE)
    expect(loopTurns(env)).toBe(turns)
    expect(env.events.count('session:start')).toBe(1)

    gate.releaseOne()
    await until(() => gate.waiting === 1 && env.events.count('session:start') === 2, 'the second session at the gate')
    expect(loopTurns(env)).toBeGreaterThan(turns)
    gate.releaseOne()
    await workerIdle(env)
    expect(maxOpenSessions(env)).toBe(1)
    await env.engine.stop()
  })

  it('never opens a second session of a workflow while one runs', async () => {
    const gate = gatedTool()
    await using env = await workerEnv({ tools: [gate.tool], worker: { concurrency: 4, idleCheckMs: MINUTE } })
    using _open = gate.openOnExit()
    await env.engine.deployWorkflow({ id: 'wf', title: 'One at a time', code: gatedConsumer })
    await env.engine.start()
    await env.engine.publish('wf', 'in', { messageId: 'e1', title: 'E1', payload: {} })
    await until(() => gate.waiting === 1, 'the first run at the gate')

    // More work arrives and the loop wakes several times while the session is held at the gate.
    await env.engine.publish('wf', 'in', { messageId: 'e2', title: 'E2', payload: {} })
    for (let i = 1; i <= 5; i++) await env.clock.advanceTo(T0 + i * MINUTE)
    expect(env.events.count('session:start')).toBe(1)
    expect(env.events.list('scheduler:tick:empty').length).toBeGreaterThanOrEqual(5) // the open session hides it

    gate.releaseOne()
    await until(() => gate.waiting === 1, 'the second run at the gate')
    gate.releaseOne()
    await workerIdle(env)

    expect(maxOpenSessions(env)).toBe(1)
    expect(env.events.count('session:start')).toBe(1) // the same session consumed both events
    expect(await env.db.events.countByStatus('wf')).toEqual({ consumed: 2 })
    await env.engine.stop()
  })

  it('keeps other workflows running while one is busy', async () => {
    const gate = gatedTool()
    await using env = await workerEnv({ tools: [gate.tool], worker: { concurrency: 2 } })
    using _open = gate.openOnExit()
    await env.engine.deployWorkflow({ id: 'slow', title: 'Slow', code: gatedConsumer })
    await env.engine.deployWorkflow({
      id: 'fast',
      title: 'Fast',
      code: gatedProducer.replace('await Gate.wait({})', 'return { ran: true }').replace('"1h"', '"5m"'),
    })
    await env.engine.start()
    await env.engine.publish('slow', 'in', { messageId: 'e1', title: 'E1', payload: {} })
    await until(() => gate.waiting === 1, 'the slow run at the gate')

    await advanceUntilSessions(env, 'fast', 3)
    expect(openSessions(env)).toBe(1) // only the slow one
    gate.releaseOne()
    await workerIdle(env)
    await env.engine.stop()
  })
})

async function advanceUntilSessions(env: Awaited<ReturnType<typeof workerEnv>>, workflowId: string, n: number): Promise<void> {
  for (let i = 1; (await env.db.sessions.listByWorkflow(workflowId)).length < n; i++) {
    if (i > 10) throw new Error(`${workflowId} did not reach ${n} sessions`)
    await env.clock.advanceTo(T0 + i * 5 * MINUTE)
    await until(async () => (await env.db.sessions.listByWorkflow(workflowId)).every((s) => s.end_timestamp !== null), `${workflowId} to close its session`)
  }
}

