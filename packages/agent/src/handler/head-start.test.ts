import { describe, expect, it } from 'vitest'
import { type TestEngine, checkInvariants, createTestEngine, recordingTool } from '../../../tests/src/kit/index.js'
import { type Backend, SQLITE, describeBackends } from '../../../tests/suite/backends.js'
import type { CrashSite } from '../faults.js'

/**
 * One consumer whose phases all leave traces: console lines, a mutation call, a published event, a state. Event
 * `skip-*` reserves nothing, `fail-*` makes mutate throw before its tool call, `noop-*` calls no tool.
 */
const code = `
const workflow = {
  topics: { "in": {}, "out": {} },
  producers: {},
  consumers: {
    send: {
      subscribe: ["in"],
      publishes: ["out"],
      prepare: async (state) => {
        const [e] = await Topics.peek({ topic: "in", limit: 1 })
        console.log("prepare sees " + (e ? e.messageId : "nothing") + " after " + (state ? state.count : 0))
        if (!e || e.messageId.startsWith("skip-")) return { reservations: [], data: { seen: e ? e.messageId : null } }
        return { reservations: [{ topic: "in", ids: [e.messageId] }], data: { id: e.messageId } }
      },
      mutate: async (p) => {
        console.log("mutate " + p.data.id)
        if (p.data.id.startsWith("fail-")) throw new Error("refused " + p.data.id)
        if (p.data.id.startsWith("noop-")) return
        await Email.send({ id: p.data.id })
      },
      next: async (p, m) => {
        console.log("next " + JSON.stringify(m))
        if (p.data.id) await Topics.publish({ topic: "out", event: { messageId: "done-" + p.data.id, payload: m } })
        return { count: 1, last: p.data.id ?? p.data.seen }
      },
    },
  },
}
`

async function setup(
  options: {
    backend?: Backend
    headStart?: boolean
    sandboxThreads?: number
    wallTimeoutMs?: number
    onCrashPoint?: (site: CrashSite, env: TestEngine) => void
  } = {},
) {
  const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
  const holder: { env?: TestEngine } = {}
  const env = await createTestEngine({
    ...(options.backend ?? SQLITE),
    tools: [email.tool],
    config: { headStart: options.headStart ?? true, maxEventAttempts: 1, retry: { maxAttempts: 1, baseDelayMs: 1000, maxDelayMs: 1000 } },
    sandboxThreads: options.sandboxThreads ?? 0,
    ...(options.wallTimeoutMs ? { sandbox: { wallTimeoutMs: options.wallTimeoutMs } } : {}),
    ...(options.onCrashPoint ? { onCrashPoint: (site: CrashSite) => options.onCrashPoint!(site, holder.env!) } : {}),
  })
  holder.env = env
  await env.engine.deployWorkflow({ id: 'wf', title: 'Head start', code })
  const publish = async (...ids: string[]) => {
    for (const id of ids) await env.engine.publish('wf', 'in', { messageId: id, title: id, payload: {} })
  }
  return { env, email, publish }
}

/** Everything the runs left in the database, in a comparable form. */
async function snapshot(env: TestEngine) {
  // Sequential ids (`run_1`, `run_2`, ...) give the order the runs were created in.
  const runs = (await env.db.runs.listByWorkflow('wf')).sort((a, b) => Number(a.id.replace(/\D/g, '')) - Number(b.id.replace(/\D/g, '')))
  return {
    runs: await Promise.all(
      runs.map(async (r) => ({
        handler: r.handler_name,
        phase: r.phase,
        status: r.status,
        error: r.error,
        prepare: r.prepare_result,
        output: r.output_state,
        logs: (await env.db.logs.list(r.id)).map((l) => `${l.phase} ${l.level} ${l.message}`),
      })),
    ),
    events: (await env.db.events.listByWorkflow('wf')).map((e) => [e.topic, e.message_id, e.status, e.payload]),
    mutations: (await env.db.mutations.listByWorkflow('wf')).map((m) => [m.status, m.tool_namespace, m.tool_method, m.params, m.result]),
    state: (await env.db.handlerState.listByWorkflow('wf')).map((s) => [s.handler_name, s.state]),
  }
}

describeBackends('head start: evaluations started while the checkpoint before them commits', (backend) => {
  for (const threads of [0, 1]) {
    it(`leaves the same runs, logs, ledger, events and state as evaluations started in turn (${threads === 0 ? 'calling thread' : 'worker thread'})`, async () => {
      const ids = ['a1', 'noop-1', 'fail-1', 'a2', 'skip-1']
      const results = []
      const ahead: string[][] = []
      for (const headStart of [false, true]) {
        const { env, email, publish } = await setup({ backend, headStart, sandboxThreads: threads })
        await using _ = env
        await publish(...ids)
        // The failed mutate ends its session and puts the workflow in error (its event is dead); a retry goes on.
        await env.engine.runSession('wf')
        await env.engine.retry('wf')
        results.push({ db: await snapshot(env), calls: email.calls.map((c) => c.input) })
        ahead.push(env.events.list('evaluation:ahead').map((e) => `${e.phase} ${e.taken ? 'taken' : 'abandoned'}`))
        expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
      }
      const [off, on] = results
      expect(on).toEqual(off)
      // The scenario did what it is for: a mutation per plain event, a failed mutate, a run that reserved nothing.
      expect(on!.calls).toEqual([{ id: 'a1' }, { id: 'a2' }])
      expect(on!.db.runs.map((r) => r.status)).toEqual(['committed', 'committed', 'failed', 'committed', 'committed'])
      expect(on!.db.runs.at(-1)!.logs).toContain('preparing log prepare sees skip-1 after 1')
      // Off: nothing started ahead. On: every prepare while its run's row was written; mutate after every reservation,
      // next while the mutation's applied write committed (`a1`, `a2`), next after a mutate that called no tool
      // (`noop-1`, and `fail-1`, whose mutate threw and whose next was never started), next after the empty prepare.
      expect(ahead[0]).toEqual([])
      // (On SQLite only: see `prepareAhead` in drive-session.ts.)
      const prepare = backend.backend === 'postgres' ? [] : ['prepare taken']
      expect(ahead[1]).toEqual([
        ...[...prepare, 'mutate taken', 'next taken'], // a1
        ...[...prepare, 'mutate taken', 'next taken'], // noop-1
        ...[...prepare, 'mutate taken'], // fail-1
        ...[...prepare, 'mutate taken', 'next taken'], // a2
        ...[...prepare, 'next taken'], // skip-1
      ])
      expect(on!.db.events.filter((e) => e[0] === 'out').map((e) => e[1])).toEqual(['done-a1', 'done-noop-1', 'done-a2'])
    })
  }

  it('runs no tool call of a mutate started ahead when the process dies right after the prepared checkpoint', async () => {
    const { env, email, publish } = await setup({ backend })
    await using _ = env
    await publish('a1')
    env.crashAt({ point: 'run:after-checkpoint', phase: 'prepared' })
    await expect(env.engine.runSession('wf')).rejects.toThrow(/simulated crash/i)
    // The mutate evaluation had started and asked for Email.send; the call was held and never ran.
    expect(env.events.list('evaluation:ahead').map((e) => [e.phase, e.taken]).filter(([phase]) => phase === 'mutate')).toEqual([['mutate', false]])
    expect(email.calls).toEqual([])
    expect(await env.db.mutations.listByWorkflow('wf')).toEqual([])

    const engine = await env.restart()
    await engine.recover({ force: true })
    expect(email.calls.map((c) => c.input)).toEqual([{ id: 'a1' }])
    expect((await env.db.runs.listByWorkflow('wf')).map((r) => r.status)).toEqual(['committed'])
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })

  it('abandons the next started during the applied write when that write fails, and lets the ledger row decide', async () => {
    const { env, email, publish } = await setup({ backend })
    await using _ = env
    await publish('a1')
    // The applied write fails once (a dropped connection): the row stays in_flight.
    const mutations = env.db.mutations
    const transitionMoving = mutations.transitionMoving.bind(mutations)
    let failed = 0
    mutations.transitionMoving = async (...args: Parameters<typeof transitionMoving>) => {
      if (args[0].change.status === 'applied' && failed === 0) {
        failed++
        throw new Error('connection reset while writing the outcome')
      }
      return transitionMoving(...args)
    }
    await env.engine.runSession('wf')
    expect(failed).toBe(1)
    // The call ran once. next, started while the write ran, was dropped with its log line and publish; the row, still
    // in_flight, was reconciled (never re-sent: the recording tool's reconcile finds the call), and next ran in its
    // turn after that: one log line, one done event.
    expect(email.calls.map((c) => c.input)).toEqual([{ id: 'a1' }])
    expect(env.events.list('evaluation:ahead').map((e) => `${e.phase} ${e.taken ? 'taken' : 'abandoned'}`)).toContain('next abandoned')
    expect(env.events.list('mutation:applied')).toHaveLength(1)
    const [row] = await env.db.mutations.listByWorkflow('wf')
    expect(row!.status).toBe('applied')
    expect((await env.db.events.listByWorkflow('wf')).filter((e) => e.topic === 'out').map((e) => e.message_id)).toEqual(['done-a1'])
    const [run] = await env.db.runs.listByWorkflow('wf')
    expect(run!.status).toBe('committed')
    const logs = (await env.db.logs.list(run!.id)).map((l) => l.message)
    expect(logs.filter((m) => m.startsWith('next '))).toHaveLength(1)
    expect(logs.some((m) => m.startsWith('reconcile Email.send: applied'))).toBe(true)
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })

  it('keeps nothing of the next started during the applied write when the process dies right after that write', async () => {
    const { env, email, publish } = await setup({ backend })
    await using _ = env
    await publish('a1')
    env.crashAt({ point: 'run:after-checkpoint', phase: 'mutated' })
    await expect(env.engine.runSession('wf')).rejects.toThrow(/simulated crash/i)
    expect(email.calls.map((c) => c.input)).toEqual([{ id: 'a1' }])
    expect((await env.db.events.listByWorkflow('wf')).filter((e) => e.topic === 'out')).toEqual([])

    const engine = await env.restart()
    await engine.recover({ force: true })
    // Recovery runs next from the committed row: one call in all, one done event, the run committed.
    expect(email.calls.map((c) => c.input)).toEqual([{ id: 'a1' }])
    expect((await env.db.events.listByWorkflow('wf')).filter((e) => e.topic === 'out').map((e) => e.message_id)).toEqual(['done-a1'])
    expect((await env.db.runs.listByWorkflow('wf')).map((r) => r.status)).toEqual(['committed'])
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })

  it('evaluates mutate in its turn when the one started ahead waited for a slow checkpoint longer than a tenth of its wall-clock limit', async () => {
    const wallTimeoutMs = 300
    let slowed = false
    const { env, email, publish } = await setup({
      backend,
      sandboxThreads: 1,
      wallTimeoutMs,
      onCrashPoint(site) {
        if (slowed || site.point !== 'run:after-checkpoint' || site.phase !== 'prepared') return
        slowed = true
        // A checkpoint that takes twice the phase's wall-clock limit (a disk stall): this thread is blocked, while
        // the sandbox thread's mutate, started ahead, waits for its Email.send to pass the gate until its limit ends.
        const until = performance.now() + 2 * wallTimeoutMs
        while (performance.now() < until) {}
      },
    })
    await using _ = env
    await publish('a1')
    const result = await env.engine.runSession('wf')
    expect(result.status).toBe('completed')
    expect(email.calls.map((c) => c.input)).toEqual([{ id: 'a1' }])
    const [run] = await env.db.runs.listByWorkflow('wf')
    expect(run).toMatchObject({ status: 'committed', error: null })
    // The evaluation started ahead had waited longer than a tenth of the limit: it was dropped before its call ran,
    // and mutate ran in its turn. One `mutate a1` line in the log, from the evaluation that counted.
    expect(env.events.list('evaluation:ahead').map((e) => [e.phase, e.taken]).filter(([phase]) => phase === 'mutate')).toEqual([['mutate', false]])
    const logs = (await env.db.logs.list(run!.id)).map((l) => l.message)
    expect(logs.filter((m) => m === 'mutate a1')).toHaveLength(1)
    expect(logs.some((m) => m.includes('did not finish within'))).toBe(false)
  })
})

// The pause comes from the crash-point hook, which is synchronous: a synchronous write needs SQLite's native handle.
// What it checks (the turn's workflow check abandons the evaluation started ahead) is the same code on either backend.
describe('head start: an operator pause [sqlite]', () => {
  it('abandons a mutate started ahead when the workflow is paused during the prepared checkpoint: no call, no log line', async () => {
    let paused = false
    const { env, email, publish } = await setup({
      onCrashPoint(site, e) {
        if (paused || site.point !== 'run:after-checkpoint' || site.phase !== 'prepared') return
        paused = true
        // An operator's pause from another process, committed before this engine reads the workflow again.
        e.db.native!.prepare(`update workflows set status = 'paused' where id = 'wf'`).run()
      },
    })
    await using _ = env
    await publish('a1')
    const result = await env.engine.runSession('wf')
    expect(result.status).toBe('suspended')
    expect(env.events.list('evaluation:ahead').map((e) => [e.phase, e.taken])).toEqual([
      ['prepare', true],
      ['mutate', false],
    ])
    expect(email.calls).toEqual([])
    const [run] = await env.db.runs.listByWorkflow('wf')
    expect(run).toMatchObject({ phase: 'prepared', status: 'paused' })
    const logs = (await env.db.logs.list(run!.id)).map((l) => l.message)
    expect(logs.some((m) => m.startsWith('mutate'))).toBe(false)

    await env.engine.resume('wf')
    await env.engine.runSession('wf')
    expect(email.calls.map((c) => c.input)).toEqual([{ id: 'a1' }])
    const logsAfter = (await env.db.logs.list(run!.id)).map((l) => l.message)
    expect(logsAfter.filter((m) => m === 'mutate a1')).toHaveLength(1)
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })
})
