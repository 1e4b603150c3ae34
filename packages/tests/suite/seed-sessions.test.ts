/** The seed's session-orchestration scenarios (basic validation, session state, triggers, loop, budget, order). */
import { WorkflowNotRunnableError } from '@ledgerflow/agent'
import { expect, it } from 'vitest'
import { checkInvariants } from '../src/kit/index.js'
import { describeBackends } from './backends.js'
import { PIPELINE, consumer, pipelineEnv, producer, runSummary, script } from './fixtures.js'

describeBackends('executeWorkflowSession: basic validation', (backend) => {
  it('refuses a workflow with no active script, writing no session row', async () => {
    await using env = await pipelineEnv(backend)
    const now = env.clock.now()
    await env.db.workflows.insert({ id: 'bare', title: 'Bare', status: 'active', active_script_id: null, handler_config: null, error: null, error_type: null, consumer_sleep_until: null, created_at: now, updated_at: now })
    const error = await env.engine.runSession('bare').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WorkflowNotRunnableError)
    expect(error).toMatchObject({ reason: 'no_active_script', message: expect.stringContaining('no active script') })
    expect(await env.db.sessions.listByWorkflow('bare')).toEqual([])
  })

  it('refuses a workflow that is not active, writing no session row', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'Paused', code: PIPELINE })
    await env.engine.pause('wf')
    await expect(env.engine.runSession('wf')).rejects.toMatchObject({ reason: 'not_active' })
    expect(await env.db.sessions.listByWorkflow('wf')).toEqual([])
  })

  it('fails the session and puts the workflow in error when the stored handler config is corrupt', async () => {
    await using env = await pipelineEnv(backend)
    const { scriptId } = await env.engine.deployWorkflow({ id: 'wf', title: 'Corrupt', code: PIPELINE })
    await env.db.kysely.updateTable('scripts').set({ handler_config: '{"topics": [' }).where('id', '=', scriptId).execute()
    const result = await env.engine.runSession('wf')
    expect(result).toMatchObject({ status: 'failed', errorType: 'internal', error: expect.stringContaining('handler_config') })
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'error', error_type: 'internal' })
    expect(await env.db.sessions.get(result.sessionId)).toMatchObject({ status: 'failed' })
  })

  it('creates the session row with its trigger, script and lease when the session starts', async () => {
    await using env = await pipelineEnv(backend)
    const { scriptId } = await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    const started = env.events.awaitNext('session:start')
    const result = await env.engine.runSession('wf', { trigger: 'manual' })
    expect(await started).toEqual({ sessionId: result.sessionId, workflowId: 'wf', trigger: 'manual' })
    expect(await env.db.sessions.get(result.sessionId)).toMatchObject({ workflow_id: 'wf', script_id: scriptId, trigger: 'manual', start_timestamp: env.clock.now(), owner: null })
  })

  it('completes a session with nothing to do without creating runs', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'Idle', code: script({ consumers: [consumer('send')] }) })
    const result = await env.engine.runSession('wf')
    expect(result).toEqual({ sessionId: result.sessionId, status: 'completed' })
    expect(await env.db.runs.listBySession(result.sessionId)).toEqual([])
  })
})

describeBackends('executeWorkflowSession: session state', (backend) => {
  it('marks a successful session completed with start and end timestamps and leaves the workflow active', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    const start = env.clock.now()
    const result = await env.engine.runSession('wf')
    expect(result.status).toBe('completed')
    const session = await env.db.sessions.get(result.sessionId)
    expect(session).toMatchObject({ status: 'completed', start_timestamp: start, end_timestamp: start, handler_run_count: 4, error: null })
    expect((await env.db.workflows.get('wf'))!.status).toBe('active')
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })

  it('marks the session failed and the workflow error when a producer fails', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { fail: 'feed is down' })], consumers: [consumer('send')] }) })
    await env.clock.advance(1234)
    const result = await env.engine.runSession('wf')
    expect(result).toMatchObject({ status: 'failed', errorType: 'logic', error: expect.stringContaining('feed is down') })
    expect(result.error).toMatch(/workflow\.js:\d+:\d+/)
    const session = await env.db.sessions.get(result.sessionId)
    expect(session).toMatchObject({ status: 'failed', end_timestamp: env.clock.now() })
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'error', error_type: 'logic', error: expect.stringContaining('feed is down') })
    expect(await checkInvariants(env.db)).toEqual([])
  })
})

describeBackends('executeWorkflowSession: triggers', (backend) => {
  const twoProducers = script({
    producers: [producer('fast', { schedule: '{ interval: "1m" }' }), producer('slow', { schedule: '{ interval: "1h" }' })],
    consumers: [consumer('send')],
  })

  it('runs only the due producers for a schedule trigger', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: twoProducers })
    await env.engine.runSession('wf', { trigger: 'schedule' }) // both due right after deploy
    await env.clock.advance(60_000)
    const result = await env.engine.runSession('wf', { trigger: 'schedule' })
    const producers = (await env.db.runs.listBySession(result.sessionId)).filter((r) => r.handler_type === 'producer')
    expect(producers.map((r) => r.handler_name)).toEqual(['fast'])
  })

  it('runs every producer for a manual trigger', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: twoProducers })
    await env.engine.runSession('wf', { trigger: 'schedule' })
    const result = await env.engine.runSession('wf', { trigger: 'manual' })
    const producers = (await env.db.runs.listBySession(result.sessionId)).filter((r) => r.handler_type === 'producer')
    expect(producers.map((r) => r.handler_name)).toEqual(['fast', 'slow'])
  })

  it('runs no producer for an event trigger, only consumers', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    await env.engine.publish('wf', 'items', { messageId: 'ext-1', payload: { i: 1 } })
    const result = await env.engine.runSession('wf', { trigger: 'event' })
    const runs = await env.db.runs.listBySession(result.sessionId)
    expect(runs.map((r) => `${r.handler_type}:${r.handler_name}`)).toEqual(['consumer:send'])
    expect(env.out.calls.map((c) => c.input)).toEqual([{ id: 'ext-1', i: 1 }])
  })
})

describeBackends('executeWorkflowSession: consumer loop and budget', (backend) => {
  it('creates no consumer run when there is no pending work', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    const result = await env.engine.runSession('wf', { trigger: 'event' })
    expect(await env.db.runs.listBySession(result.sessionId)).toHaveLength(0)
  })

  it('runs the consumer once per pending event', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    const result = await env.engine.runSession('wf')
    expect(await runSummary(env.db, 'wf')).toEqual([
      'producer:gen:committed:committed',
      'consumer:send:committed:committed',
      'consumer:send:committed:committed',
      'consumer:send:committed:committed',
    ])
    expect(env.out.calls.map((c) => (c.input as { id: string }).id)).toEqual(['gen-0', 'gen-1', 'gen-2'])
    expect(result.budgetExhausted).toBeUndefined()
  })

  it('stops after maxIterations consumer runs and reports the budget as exhausted', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 5 })], consumers: [consumer('send')] }) })
    const result = await env.engine.runSession('wf', { maxIterations: 2 })
    expect(result).toMatchObject({ status: 'completed', budgetExhausted: 'iterations' })
    expect(await env.db.runs.countConsumerRuns(result.sessionId)).toBe(2)
    expect(await env.db.events.countByStatus('wf')).toEqual({ consumed: 2, pending: 3 })
    expect((await env.db.sessions.get(result.sessionId))!.budget_exhausted).toBe('iterations')
  })

  it('stops on the cost budget once the session has spent it', async () => {
    const { recordingTool } = await import('../src/kit/index.js')
    const paid = recordingTool({ namespace: 'Paid', name: 'send', kind: 'mutation', cost: 400 })
    await using env = await pipelineEnv({ ...backend, tools: [paid.tool] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 5 })], consumers: [consumer('send', { tool: 'Paid.send' })] }) })
    const result = await env.engine.runSession('wf', { maxCostMicrodollars: 1000 })
    expect(result).toMatchObject({ status: 'completed', budgetExhausted: 'cost' })
    expect(await env.engine.sessionCost(result.sessionId)).toBe(1200)
    expect(paid.calls).toHaveLength(3)
  })

  it('stops on the time budget measured from the session start', async () => {
    const { recordingTool } = await import('../src/kit/index.js')
    const slow = recordingTool({ namespace: 'Slow', name: 'send', kind: 'mutation' })
    await using env = await pipelineEnv({ ...backend, tools: [slow.tool] })
    // Each consumer run takes 400 ms of (manual) time.
    env.engine.on('run:end', () => env.clock.set(env.clock.now() + 400))
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 5 })], consumers: [consumer('send', { tool: 'Slow.send' })] }) })
    const result = await env.engine.runSession('wf', { maxDurationMs: 1000 })
    expect(result).toMatchObject({ status: 'completed', budgetExhausted: 'time' })
    expect(await env.db.runs.countConsumerRuns(result.sessionId)).toBe(2)
  })
})

describeBackends('session handler runs', (backend) => {
  it('creates runs with the right handler type and name, producers before consumers', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({
      id: 'wf',
      title: 'T',
      code: script({ producers: [producer('a', { count: 1 }), producer('b', { count: 1 })], consumers: [consumer('send')] }),
    })
    const result = await env.engine.runSession('wf')
    const runs = await env.db.runs.listBySession(result.sessionId)
    expect(runs.map((r) => [r.ordinal, r.handler_type, r.handler_name])).toEqual([
      [1, 'producer', 'a'],
      [2, 'producer', 'b'],
      [3, 'consumer', 'send'],
      [4, 'consumer', 'send'],
    ])
  })

  it('classifies an unexpected tool error as internal and fails the session with it', async () => {
    const { defineTool } = await import('@ledgerflow/agent')
    const { z } = await import('zod')
    const broken = defineTool({ namespace: 'Broken', name: 'read', kind: 'read', description: 'throws a plain Error', input: z.unknown(), async execute() { throw new Error('socket hang up') } })
    await using env = await pipelineEnv({ ...backend, tools: [broken] })
    await env.engine.deployWorkflow({
      id: 'wf',
      title: 'T',
      code: script({ producers: [`p: { schedule: { interval: "1m" }, publishes: [], handler: async () => { await Broken.read({}) } }`], consumers: [consumer('send')] }),
    })
    const result = await env.engine.runSession('wf')
    expect(result).toMatchObject({ status: 'failed', errorType: 'internal', error: expect.stringContaining('socket hang up') })
  })
})
