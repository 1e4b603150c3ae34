/** SPEC §8 through real scripts in the real sandbox: every error class at every phase. */
import { expect, it } from 'vitest'
import { checkInvariants } from '../src/kit/index.js'
import { describeBackends } from './backends.js'
import { consumer, pipelineEnv, producer, runSummary, script } from './fixtures.js'

const READING_PRODUCER = `gen: {
      schedule: { interval: "5m" },
      publishes: ["items"],
      handler: async () => {
        await In.read({})
        await Topics.publish({ topic: "items", event: { messageId: "m1", payload: { i: 1 } } })
      },
    }`

const READING_PREPARE = `async () => {
        await In.read({})
        const [e] = await Topics.peek({ topic: "items" })
        return e ? { reservations: [{ topic: "items", ids: [e.messageId] }], data: { id: e.messageId, i: e.payload.i } } : { reservations: [] }
      }`

describeBackends('failures before the mutation', (backend) => {
  it('retries a network error of a producer with a persisted backoff and commits on the next attempt', async () => {
    await using env = await pipelineEnv(backend)
    env.read.script({ error: 'network' })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [READING_PRODUCER], consumers: [consumer('send')] }) })
    const first = await env.engine.runSession('wf')
    expect(first).toMatchObject({ status: 'suspended', reason: expect.stringContaining('waits for a retry until') })
    const [run] = await env.db.runs.listBySession(first.sessionId)
    expect(run).toMatchObject({ status: 'waiting', attempt: 2, error_type: 'network' })
    expect((await env.db.workflows.get('wf'))!.status).toBe('active')
    // Not due yet: a new session stops at the waiting run.
    expect(await env.engine.runSession('wf', { trigger: 'retry' })).toMatchObject({ status: 'suspended' })
    await env.clock.advanceTo(run!.retry_at!)
    expect(await env.engine.runSession('wf', { trigger: 'retry' })).toMatchObject({ status: 'completed' })
    expect(await env.db.runs.get(run!.id)).toMatchObject({ status: 'committed', attempt: 1 })
    expect(env.out.calls).toHaveLength(1)
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })

  it('fails the run and puts the workflow in error after the last network retry', async () => {
    await using env = await pipelineEnv({ ...backend, config: { retry: { maxAttempts: 2, baseDelayMs: 1000, maxDelayMs: 60_000 } } })
    env.read.script({ error: 'network' }, { error: 'network' })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [READING_PRODUCER], consumers: [consumer('send')] }) })
    await env.engine.runSession('wf')
    await env.clock.advance(10_000)
    const result = await env.engine.runSession('wf', { trigger: 'retry' })
    expect(result).toMatchObject({ status: 'failed', errorType: 'network' })
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'error', error_type: 'network' })
    expect(await env.db.events.listByWorkflow('wf')).toEqual([]) // a producer that did not commit published nothing
  })

  it('pauses the run and the workflow on an auth error in prepare, reserving nothing, and continues after resume', async () => {
    await using env = await pipelineEnv(backend)
    env.read.script({ error: 'auth', message: 'token expired' })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send', { prepare: READING_PREPARE })] }) })
    const result = await env.engine.runSession('wf')
    expect(result).toMatchObject({ status: 'suspended', errorType: 'auth', reason: expect.stringContaining('token expired') })
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'paused', error_type: 'auth', error: expect.stringContaining('token expired') })
    expect(await env.db.events.countByStatus('wf')).toEqual({ pending: 1 })
    await env.engine.resume('wf')
    expect(await env.engine.runSession('wf', { trigger: 'event' })).toMatchObject({ status: 'completed' })
    expect(await env.db.events.countByStatus('wf')).toEqual({ consumed: 1 })
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })

  it('fails the run and releases its events (attempt + 1) when mutate throws before its tool call', async () => {
    await using env = await pipelineEnv(backend)
    const code = script({
      producers: [producer('gen', { count: 1 })],
      consumers: [consumer('send', { tool: 'Out.send' }).replace('mutate: async (p) => {', 'mutate: async (p) => { if (p.data.i === 0) throw new TypeError("bad data");')],
    })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code })
    const result = await env.engine.runSession('wf')
    expect(result).toMatchObject({ status: 'failed', errorType: 'logic', error: expect.stringContaining('TypeError: bad data') })
    expect((await env.db.events.listByWorkflow('wf')).map((e) => [e.status, e.attempt_number])).toEqual([['pending', 2]])
    expect(env.out.calls).toHaveLength(0)
    expect(await checkInvariants(env.db)).toEqual([])
  })

  it('turns an event dead once it was released maxAttempts times, and requeue brings it back', async () => {
    await using env = await pipelineEnv({ ...backend, config: { maxEventAttempts: 2 } })
    const code = script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send').replace('mutate: async (p) => {', 'mutate: async (p) => { throw new Error("broken");')] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code })
    await env.engine.runSession('wf')
    await env.engine.retry('wf')
    const [event] = await env.db.events.listByWorkflow('wf')
    expect(event).toMatchObject({ status: 'dead', attempt_number: 2 })
    await env.engine.requeueEvent(event!.id)
    expect(await env.db.events.get(event!.id)).toMatchObject({ status: 'pending', attempt_number: 1 })
    await expect(env.engine.requeueEvent(event!.id)).rejects.toMatchObject({ code: 'illegal_state' })
  })
})

describeBackends('failures at the mutation call', (backend) => {
  it('records a definite logic failure in the ledger, releases the events and puts the workflow in error', async () => {
    await using env = await pipelineEnv(backend)
    env.out.script({ error: 'logic', message: 'recipient rejected' })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send')] }) })
    const result = await env.engine.runSession('wf')
    expect(result).toMatchObject({ status: 'failed', errorType: 'logic', error: expect.stringContaining('recipient rejected') })
    const [ledger] = await env.db.mutations.listByWorkflow('wf')
    expect(ledger).toMatchObject({ status: 'failed', error_type: 'logic' })
    expect((await env.db.events.listByWorkflow('wf')).map((e) => [e.status, e.attempt_number])).toEqual([['pending', 2]])
    expect(await checkInvariants(env.db)).toEqual([])
  })

  it('treats a plain Error from a mutation tool as internal and definite', async () => {
    await using env = await pipelineEnv(backend)
    env.out.script({ error: 'internal' })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send')] }) })
    expect(await env.engine.runSession('wf')).toMatchObject({ status: 'failed', errorType: 'internal' })
    expect((await env.db.mutations.listByWorkflow('wf'))[0]).toMatchObject({ status: 'failed' })
  })

  it('pauses on an auth error the tool says did not happen, and makes the mutation in a new run after resume', async () => {
    await using env = await pipelineEnv(backend)
    env.out.script({ error: 'auth', message: 'login required', notApplied: true })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send')] }) })
    expect(await env.engine.runSession('wf')).toMatchObject({ status: 'suspended', errorType: 'auth' })
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'paused', error_type: 'auth' })
    expect(await env.db.events.countByStatus('wf')).toEqual({ reserved: 1 })
    await env.engine.resume('wf')
    expect(await env.engine.runSession('wf', { trigger: 'retry' })).toMatchObject({ status: 'completed' })
    expect(await runSummary(env.db, 'wf')).toEqual(['producer:gen:committed:committed', 'consumer:send:mutating:failed', 'consumer:send:committed:committed'])
    expect(env.out.effects.entries()).toHaveLength(1)
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })

  it('reconciles a network error after the effect happened: applied once, next sees the real result', async () => {
    await using env = await pipelineEnv(backend)
    env.out.script({ applyThenError: 'network' })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send')] }) })
    expect(await env.engine.runSession('wf')).toMatchObject({ status: 'completed' })
    expect(env.out.reconciles).toBe(1)
    expect(env.out.effects.entries()).toHaveLength(1)
    const [ledger] = await env.db.mutations.listByWorkflow('wf')
    expect(ledger).toMatchObject({ status: 'applied', reconcile_attempts: 1 })
    const state = await env.db.handlerState.get('wf', 'send')
    expect(JSON.parse(state!.state!)).toEqual({ last: 'gen-0', result: { status: 'applied', result: { ok: true, key: ledger!.idempotency_key } } })
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })

  it('retries in a new run when reconciliation finds a network failure did not happen', async () => {
    await using env = await pipelineEnv(backend)
    env.out.script({ error: 'network' })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send')] }) })
    const first = await env.engine.runSession('wf')
    expect(first).toMatchObject({ status: 'suspended' })
    const [failed, retry] = (await env.db.runs.listByWorkflow('wf')).filter((r) => r.handler_type === 'consumer').reverse()
    expect(failed).toMatchObject({ status: 'failed', phase: 'mutating' })
    expect(retry).toMatchObject({ status: 'waiting', phase: 'prepared', retry_of: failed!.id, attempt: 2 })
    await env.clock.advanceTo(retry!.retry_at!)
    expect(await env.engine.runSession('wf', { trigger: 'retry' })).toMatchObject({ status: 'completed' })
    expect(env.out.effects.entries()).toHaveLength(1)
    expect((await env.db.mutations.listByWorkflow('wf')).map((m) => m.status).sort()).toEqual(['applied', 'failed'])
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })

  it('parks an outcome reconciliation cannot settle as indeterminate and pauses for a person', async () => {
    const { recordingTool } = await import('../src/kit/index.js')
    const blind = recordingTool({ namespace: 'Blind', name: 'send', kind: 'mutation', reconcile: false })
    blind.script({ applyThenError: 'network' })
    await using env = await pipelineEnv({ ...backend, tools: [blind.tool] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send', { tool: 'Blind.send' })] }) })
    const result = await env.engine.runSession('wf')
    expect(result).toMatchObject({ status: 'suspended', errorType: 'indeterminate' })
    expect((await env.db.mutations.listByWorkflow('wf'))[0]).toMatchObject({ status: 'indeterminate' })
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'paused', error_type: 'indeterminate' })
    await expect(env.engine.resume('wf')).rejects.toMatchObject({ code: 'illegal_state' })
    expect(blind.effects.entries()).toHaveLength(1)
    expect(await checkInvariants(env.db, { effects: [blind.effects] })).toEqual([])
  })
})

describeBackends('failures after the mutation', (backend) => {
  it('keeps the reservations when next fails, and a retry after a fix runs only next with the real result', async () => {
    await using env = await pipelineEnv(backend)
    const broken = script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send', { next: 'async (p, r) => { throw new Error("next is broken") }' })] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: broken })
    expect(await env.engine.runSession('wf')).toMatchObject({ status: 'failed', error: expect.stringContaining('next is broken') })
    expect(await env.db.events.countByStatus('wf')).toEqual({ reserved: 1 })
    expect((await env.db.mutations.listByWorkflow('wf'))[0]).toMatchObject({ status: 'applied' })
    const fixed = script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send', { next: 'async (p, r) => ({ fixed: true, r })' })] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: fixed })
    expect(await env.engine.retry('wf')).toMatchObject({ status: 'completed' })
    expect(env.out.calls).toHaveLength(1) // the mutation was not issued again
    const state = JSON.parse((await env.db.handlerState.get('wf', 'send'))!.state!)
    expect(state).toMatchObject({ fixed: true, r: { status: 'applied', result: { ok: true } } })
    expect(await env.db.events.countByStatus('wf')).toEqual({ consumed: 1 })
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })

  it('fails the run after an applied mutation when mutate calls a second tool, keeping the events', async () => {
    await using env = await pipelineEnv(backend)
    const code = script({
      producers: [producer('gen', { count: 1 })],
      consumers: [consumer('send').replace('mutate: async (p) => { await Out.send({ id: p.data.id, i: p.data.i }) },', 'mutate: async (p) => { await Out.send({ id: p.data.id, i: p.data.i }); await Out.send({ id: "again" }) },')],
    })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code })
    const result = await env.engine.runSession('wf')
    expect(result).toMatchObject({ status: 'failed', errorType: 'logic', error: expect.stringContaining('exactly one mutation') })
    expect(env.out.calls).toHaveLength(1)
    expect(await env.db.events.countByStatus('wf')).toEqual({ reserved: 1 })
  })
})
