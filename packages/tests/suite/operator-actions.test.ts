/** Operator actions (SPEC §8): pause, resume, retry, resolveMutation, requeueEvent, runNow, external publish. */
import { type Engine, defineTool } from '@ledgerflow/agent'
import { expect, it } from 'vitest'
import { z } from 'zod'
import { checkInvariants, recordingTool } from '../src/kit/index.js'
import { describeBackends } from './backends.js'
import { PIPELINE, consumer, pipelineEnv, producer, runSummary, script } from './fixtures.js'

describeBackends('pause and resume', (backend) => {
  it('stops a running session at the next checkpoint without ever turning the workflow to error', async () => {
    let engine: Engine | undefined
    let paused = false
    const pauser = defineTool({
      namespace: 'Ops',
      name: 'pauseOnce',
      kind: 'read',
      description: 'Pauses the workflow the first time it is called.',
      input: z.unknown(),
      async execute() {
        if (!paused) {
          paused = true
          await engine!.pause('wf')
        }
        return null
      },
    })
    await using env = await pipelineEnv({ ...backend, tools: [pauser] })
    engine = env.engine
    const prepare = `async () => {
        await Ops.pauseOnce({})
        const [e] = await Topics.peek({ topic: "items" })
        return e ? { reservations: [{ topic: "items", ids: [e.messageId] }], data: { id: e.messageId, i: e.payload.i } } : { reservations: [] }
      }`
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 2 })], consumers: [consumer('send', { prepare })] }) })
    const result = await env.engine.runSession('wf')
    expect(result).toMatchObject({ status: 'suspended', reason: expect.stringContaining('workflow is paused') })
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'paused', error: null })
    expect(await runSummary(env.db, 'wf')).toEqual(['producer:gen:committed:committed', 'consumer:send:prepared:paused'])
    expect(env.out.calls).toHaveLength(0)
    await env.engine.resume('wf')
    expect(await env.engine.runSession('wf', { trigger: 'event' })).toMatchObject({ status: 'completed' })
    expect(env.out.calls).toHaveLength(2)
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })

  it('refuses to resume a workflow that is not paused and to pause an archived one', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    await env.engine.resume('wf') // already active: nothing to do
    await env.db.workflows.transitionStatus('wf', { from: ['active'], to: 'error', now: env.clock.now() })
    await expect(env.engine.resume('wf')).rejects.toMatchObject({ code: 'illegal_state', message: expect.stringContaining('use retry') })
    await env.db.workflows.transitionStatus('wf', { from: ['error'], to: 'archived', now: env.clock.now() })
    await expect(env.engine.pause('wf')).rejects.toMatchObject({ code: 'illegal_state' })
    await expect(env.engine.pause('nope')).rejects.toMatchObject({ code: 'workflow_not_found' })
  })
})

describeBackends('retry after a fix', (backend) => {
  it('runs again only the producer whose last run failed', async () => {
    await using env = await pipelineEnv(backend)
    const broken = script({ producers: [producer('a', { count: 1 }), producer('b', { fail: 'b is broken' })], consumers: [consumer('send')] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: broken })
    expect(await env.engine.runSession('wf')).toMatchObject({ status: 'failed' })
    const fixed = script({ producers: [producer('a', { count: 1 }), producer('b', { count: 1 })], consumers: [consumer('send')] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: fixed })
    const result = await env.engine.retry('wf')
    expect(result).toMatchObject({ status: 'completed' })
    const runs = await env.db.runs.listBySession(result!.sessionId)
    expect(runs.map((r) => `${r.handler_type}:${r.handler_name}`)).toEqual(['producer:b', 'consumer:send', 'consumer:send'])
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'active', error: null })
  })
})

describeBackends('resolveMutation', (backend) => {
  async function parked() {
    const blind = recordingTool({ namespace: 'Blind', name: 'send', kind: 'mutation', reconcile: false })
    blind.script({ error: 'network' })
    const env = await pipelineEnv({ ...backend, tools: [blind.tool] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send', { tool: 'Blind.send' })] }) })
    expect(await env.engine.runSession('wf')).toMatchObject({ status: 'suspended', errorType: 'indeterminate' })
    const [ledger] = await env.db.mutations.listByWorkflow('wf')
    expect(ledger!.status).toBe('indeterminate')
    return Object.assign(env, { blind, ledger: ledger! })
  }

  it('continues to next with the given result when resolved applied, and resumes the workflow', async () => {
    await using env = await parked()
    const r = await env.engine.resolveMutation(env.ledger.id, 'applied', { result: { id: 'sent-elsewhere' } })
    expect(r).toMatchObject({ status: 'applied', workflowResumed: true })
    expect(await env.db.mutations.get(env.ledger.id)).toMatchObject({ status: 'applied', resolved_by: 'operator', result: '{"id":"sent-elsewhere"}' })
    expect(await env.engine.runSession('wf', { trigger: 'retry' })).toMatchObject({ status: 'completed' })
    expect(JSON.parse((await env.db.handlerState.get('wf', 'send'))!.state!)).toMatchObject({ result: { status: 'applied', result: { id: 'sent-elsewhere' } } })
    expect(await env.db.events.countByStatus('wf')).toEqual({ consumed: 1 })
    expect(env.blind.calls).toHaveLength(1)
    expect(await checkInvariants(env.db)).toEqual([])
  })

  it('releases the events to run again when resolved not_applied', async () => {
    await using env = await parked()
    await env.engine.resolveMutation(env.ledger.id, 'not_applied')
    expect((await env.db.events.listByWorkflow('wf')).map((e) => [e.status, e.attempt_number])).toEqual([['pending', 2]])
    expect(await env.engine.runSession('wf', { trigger: 'event' })).toMatchObject({ status: 'completed' })
    expect(env.blind.calls).toHaveLength(2)
    expect(env.blind.effects.entries()).toHaveLength(1)
    expect(await checkInvariants(env.db, { effects: [env.blind.effects] })).toEqual([])
  })

  it('hands next { status: "skipped" } and ends the events skipped when resolved skip', async () => {
    await using env = await parked()
    await env.engine.resolveMutation(env.ledger.id, 'skip', { by: 'alice' })
    expect(await env.engine.runSession('wf', { trigger: 'retry' })).toMatchObject({ status: 'completed' })
    expect(JSON.parse((await env.db.handlerState.get('wf', 'send'))!.state!)).toMatchObject({ result: { status: 'skipped' } })
    expect(await env.db.events.countByStatus('wf')).toEqual({ skipped: 1 })
    expect(await env.db.mutations.get(env.ledger.id)).toMatchObject({ status: 'skipped', resolved_by: 'alice' })
  })

  it('refuses to resolve a mutation that is not indeterminate', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    await env.engine.runSession('wf')
    const [ledger] = await env.db.mutations.listByWorkflow('wf')
    await expect(env.engine.resolveMutation(ledger!.id, 'not_applied')).rejects.toMatchObject({ code: 'illegal_state' })
    await expect(env.engine.resolveMutation('missing', 'skip')).rejects.toMatchObject({ code: 'mutation_not_found' })
  })
})

describeBackends('runNow and external publish', (backend) => {
  it('runs every producer at once and moves their next run time', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    await env.engine.runSession('wf', { trigger: 'schedule' })
    const [before] = await env.db.schedules.list('wf')
    await env.clock.advance(1000)
    expect(await env.engine.runNow('wf')).toMatchObject({ status: 'completed' })
    const [after] = await env.db.schedules.list('wf')
    expect(after!.last_run_at).toBe(env.clock.now())
    expect(after!.next_run_at).toBe(env.clock.now() + 5 * 60_000)
    expect(before!.next_run_at).not.toBe(after!.next_run_at)
    expect(env.out.calls).toHaveLength(6)
  })

  it('publishes external events idempotently and refuses unknown topics and oversized payloads', async () => {
    await using env = await pipelineEnv({ ...backend, config: { maxPayloadBytes: 100 } })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    const first = await env.engine.publish('wf', 'items', { messageId: 'x1', title: 'X', payload: { i: 1 } })
    const again = await env.engine.publish('wf', 'items', { messageId: 'x1', title: 'changed', payload: { i: 2 } })
    expect(first.duplicate).toBe(false)
    expect(again).toEqual({ eventId: undefined, duplicate: true })
    const [event] = await env.db.events.listByWorkflow('wf')
    expect(event).toMatchObject({ title: 'X', payload: '{"i":1}', created_by_run_id: null })
    await expect(env.engine.publish('wf', 'nope', { messageId: 'y' })).rejects.toMatchObject({ code: 'unknown_topic' })
    await expect(env.engine.publish('wf', 'items', { messageId: 'big', payload: 'x'.repeat(200) })).rejects.toMatchObject({ code: 'payload_too_large' })
    await expect(env.engine.publish('wf', 'items', { messageId: '' })).rejects.toMatchObject({ code: 'invalid_event' })
  })
})
