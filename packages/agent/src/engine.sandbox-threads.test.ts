import { describe, expect, it } from 'vitest'
import { openDatabase } from '@ledgerflow/db'
import { createEngine } from './engine.js'
import { checkInvariants, createTestEngine, recordingTool } from '../../tests/src/kit/index.js'

/** A producer publishing three items; a consumer that sends one email per item and logs. */
const CODE = `
const workflow = {
  topics: { items: {} },
  producers: {
    gen: {
      schedule: { interval: "1h" },
      publishes: ["items"],
      handler: async () => {
        for (let i = 0; i < 3; i++) await Topics.publish({ topic: "items", event: { messageId: "m" + i, title: "Item " + i, payload: { i } } })
      },
    },
  },
  consumers: {
    send: {
      subscribe: ["items"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "items", limit: 1 })
        return e ? { reservations: [{ topic: "items", ids: [e.messageId] }], data: e.payload } : { reservations: [] }
      },
      mutate: async (p) => { console.log("sending", p.data); await Email.send({ i: p.data.i }) },
      next: async (p, m) => ({ last: p.data.i, status: m.status }),
    },
  },
}`

type SandboxPlacement = { sandboxThreads: number; sandboxPool?: number; sandboxCallerPool?: number }

/** A session of `items` items on `placement`: every item sent once, consumed, its state committed, its log lines kept. */
async function expectCommittedSession(placement: SandboxPlacement, items: number): Promise<void> {
  const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
  await using env = await createTestEngine({ tools: [email.tool], ...placement })
  await env.engine.deployWorkflow({ id: 'wf', title: 'Placement', code: CODE.replace('i < 3', `i < ${items}`) })
  expect(await env.engine.runSession('wf')).toMatchObject({ status: 'completed' })
  expect(email.calls.map((c) => c.input)).toEqual(Array.from({ length: items }, (_, i) => ({ i })))
  expect(await env.db.events.countByStatus('wf')).toEqual({ consumed: items })
  expect((await env.db.handlerState.get('wf', 'send'))?.state).toBe(`{"last":${items - 1},"status":"applied"}`)
  const runs = await env.db.runs.listByWorkflow('wf')
  const logs = (await Promise.all(runs.map((r) => env.db.logs.list(r.id)))).flat().map((l) => l.message)
  expect(logs).toEqual(expect.arrayContaining(['sending { i: 0 }', `sending { i: ${items - 1} }`]))
  expect(await checkInvariants(env.db)).toEqual([])
}

/** A crash right after the second call's in_flight row on `placement`: recovery settles it and never sends it blindly. */
async function expectRecoveryWithoutResend(placement: SandboxPlacement): Promise<void> {
  const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
  await using env = await createTestEngine({ tools: [email.tool], ...placement })
  await env.engine.deployWorkflow({ id: 'wf', title: 'Placement', code: CODE })
  env.crashAt({ point: 'mutation:after-in-flight', nth: 2 })
  await expect(env.engine.runSession('wf')).rejects.toThrow('simulated crash')
  await env.restart()
  await env.engine.recover({ force: true })
  // The second call never happened: recovery settles its in_flight row through reconcile, and never sends it blindly.
  expect(email.calls.map((c) => c.input)).toEqual([{ i: 0 }])
  const ledger = await env.db.mutations.listByWorkflow('wf')
  expect(ledger).toHaveLength(2)
  expect(ledger.map((m) => m.status)).not.toContain('in_flight')
  expect(await checkInvariants(env.db)).toEqual([])
}

describe('the engine with evaluations in a sandbox worker thread alone (sandboxCallerPool 0)', () => {
  it('runs a session to the same committed state, with tool calls and console lines proxied back', async () => {
    await expectCommittedSession({ sandboxThreads: 1, sandboxCallerPool: 0 }, 3)
  })

  it('with recycled instances, runs the session to the same state and every phase starts with fresh globals', async () => {
    const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
    await using env = await createTestEngine({ tools: [email.tool], sandboxThreads: 1, sandboxCallerPool: 0, sandboxRecycle: true })
    // Each phase records whether an earlier evaluation left a global behind, then leaves one itself. Twelve items
    // make about 40 evaluations: past the 24 a thread creates before it takes the image that recycling writes.
    const leaky = CODE.replace('i < 3', 'i < 12').replace('prepare: async () => {', 'prepare: async () => {\n        if (globalThis.left) throw new Error("prepare saw " + globalThis.left); globalThis.left = "prepare"')
      .replace('mutate: async (p) => {', 'mutate: async (p) => { if (globalThis.left) throw new Error("mutate saw " + globalThis.left); globalThis.left = "mutate";')
      .replace('next: async (p, m) => ({', 'next: async (p, m) => ({ fresh: globalThis.left === undefined, ')
    await env.engine.deployWorkflow({ id: 'wf', title: 'Recycled', code: leaky })
    expect(await env.engine.runSession('wf')).toMatchObject({ status: 'completed' })
    expect(email.calls.map((c) => c.input)).toEqual(Array.from({ length: 12 }, (_, i) => ({ i })))
    expect((await env.db.handlerState.get('wf', 'send'))?.state).toBe('{"fresh":true,"last":11,"status":"applied"}')
    expect(await checkInvariants(env.db)).toEqual([])
  })

  it('recovers after a crash right after the ledger row went in_flight without sending twice', async () => {
    await expectRecoveryWithoutResend({ sandboxThreads: 1, sandboxCallerPool: 0 })
  })
})

describe.each([
  ['a pool of instances on the calling thread (sandboxThreads 0, sandboxPool)', { sandboxThreads: 0, sandboxPool: 3 }],
  ['a sandbox thread and a pool on the calling thread for idle moments (sandboxCallerPool)', { sandboxThreads: 1, sandboxCallerPool: 2 }],
] as Array<[string, SandboxPlacement]>)('the engine with %s', (_, placement) => {
  it('runs a session to the same committed state, with tool calls and console lines', async () => {
    await expectCommittedSession(placement, 8)
  })

  it('recovers after a crash right after the ledger row went in_flight without sending twice', async () => {
    await expectRecoveryWithoutResend(placement)
  })
})

describe("the engine's sandbox pool options", () => {
  it('passes the pool sizes to the sandbox runner, which refuses one it cannot hold', async () => {
    const db = await openDatabase({ sqlite: ':memory:' })
    try {
      expect(() => createEngine({ db, sandboxThreads: 0, sandboxPool: 65 })).toThrow(/pool\.size must be an integer from 0 to 64, got 65/)
      expect(() => createEngine({ db, sandboxThreads: 1, sandboxPool: -1 })).toThrow(/pool\.size must be an integer from 0 to 64, got -1/)
      expect(() => createEngine({ db, sandboxThreads: 1, sandboxCallerPool: 65 })).toThrow(/callerPool\.size must be an integer from 0 to 64, got 65/)
    } finally {
      await db.close()
    }
  })
})
