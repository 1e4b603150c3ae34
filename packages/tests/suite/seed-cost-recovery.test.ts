/** The seed's cost aggregation and crash-recovery scenarios, plus continueSession. */
import { expect, it } from 'vitest'
import { checkInvariants, recordingTool } from '../src/kit/index.js'
import { describeBackends } from './backends.js'
import { PIPELINE, consumer, durableState, pipelineEnv, producer, runSummary, script } from './fixtures.js'

describeBackends('getSessionCost', (backend) => {
  it('returns 0 for a session without runs', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    const result = await env.engine.runSession('wf', { trigger: 'event' })
    expect(await env.engine.sessionCost(result.sessionId)).toBe(0)
    expect((await env.db.sessions.get(result.sessionId))!.cost).toBe(0)
  })

  it('sums the cost every run reported through its tools', async () => {
    const paid = recordingTool({ namespace: 'Paid', name: 'send', kind: 'mutation', cost: 250 })
    const lookup = recordingTool({ namespace: 'Paid', name: 'lookup', kind: 'read', cost: 10 })
    await using env = await pipelineEnv({ ...backend, tools: [paid.tool, lookup.tool] })
    const code = script({
      producers: [producer('gen', { count: 2 })],
      consumers: [consumer('send', {
        tool: 'Paid.send',
        prepare: `async () => { await Paid.lookup({}); const [e] = await Topics.peek({ topic: "items" }); return e ? { reservations: [{ topic: "items", ids: [e.messageId] }], data: { id: e.messageId, i: 0 } } : { reservations: [] } }`,
      })],
    })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code })
    const result = await env.engine.runSession('wf')
    // Two consumer runs at 10 (lookup) + 250 (send) each; the producer reported nothing.
    expect(await env.engine.sessionCost(result.sessionId)).toBe(520)
    const runs = await env.db.runs.listBySession(result.sessionId)
    expect(runs.map((r) => r.cost)).toEqual([0, 260, 260])
    expect((await env.db.sessions.get(result.sessionId))!.cost).toBe(520)
  })

  it('counts runs that reported no cost as zero', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    const result = await env.engine.runSession('wf')
    expect(await env.engine.sessionCost(result.sessionId)).toBe(0)
  })
})

describeBackends('resumeIncompleteSessions', (backend) => {
  it('closes the session of a paused workflow without running anything, pausing its active run', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    env.crashAt({ point: 'run:after-create', nth: 2 }) // the first consumer run exists, nothing ran yet
    await expect(env.engine.runSession('wf')).rejects.toThrow('simulated crash')
    await env.restart()
    await env.engine.pause('wf')
    const report = await env.engine.recover({ force: true })
    expect(report.resumed).toEqual([])
    expect(report.closed).toHaveLength(1)
    expect(env.out.calls).toHaveLength(0)
    expect(await runSummary(env.db, 'wf')).toEqual(['producer:gen:committed:committed', 'consumer:send:preparing:paused'])
    expect(await checkInvariants(env.db)).toEqual([])
    await env.engine.resume('wf')
    await env.engine.runSession('wf', { trigger: 'event' })
    expect(env.out.calls).toHaveLength(3)
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })

  it('resumes the incomplete runs of active workflows and finishes their sessions', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    env.crashAt({ point: 'run:after-checkpoint', phase: 'prepared' })
    await expect(env.engine.runSession('wf')).rejects.toThrow('simulated crash')
    await env.restart()
    const report = await env.engine.recover({ force: true })
    expect(report.resumed).toHaveLength(1)
    expect(report.resumed[0]!.result).toMatchObject({ status: 'completed' })
    expect(env.out.calls).toHaveLength(3)
    expect(await durableState(env.db, 'wf')).toMatchObject({ events: ['items/gen-0:consumed:1', 'items/gen-1:consumed:1', 'items/gen-2:consumed:1'] })
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })

  it('leaves a session whose lease is still valid to its owner unless forced', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    env.crashAt({ point: 'run:after-create', nth: 2 })
    await expect(env.engine.runSession('wf')).rejects.toThrow('simulated crash')
    await env.restart()
    expect((await env.engine.recover()).resumed).toEqual([]) // lease not expired yet
    await env.clock.advance(60_001)
    expect((await env.engine.recover()).resumed).toHaveLength(1)
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })
})

describeBackends('continueSession', (backend) => {
  const five = script({ producers: [producer('gen', { count: 5 })], consumers: [consumer('send')] })

  it('counts only the consumer runs already in the session against maxIterations', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: five })
    // Crash when the third consumer run is created: the producer and two consumer runs have committed.
    env.crashAt({ point: 'run:after-create', nth: 4 })
    await expect(env.engine.runSession('wf', { maxIterations: 4 })).rejects.toThrow('simulated crash')
    const [open] = await env.db.sessions.listByWorkflow('wf')
    await env.restart()
    await env.clock.advance(60_001)
    const result = await env.engine.continueSession(open!.id)
    // 4 consumer runs in all: the 2 before the crash, the one left at preparing, and one more.
    expect(result).toMatchObject({ status: 'completed', budgetExhausted: 'iterations' })
    expect(await env.db.runs.countConsumerRuns(open!.id)).toBe(4)
    expect(env.out.calls).toHaveLength(4)
    expect(await env.db.events.countByStatus('wf')).toEqual({ consumed: 4, pending: 1 })
  })

  it('runs the producers the interrupted session had not run yet, and not the ones it had', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('a', { count: 1 }), producer('b', { count: 1 })], consumers: [consumer('send')] }) })
    env.crashAt({ point: 'run:after-create', nth: 2 }) // producer b's run exists, not started
    await expect(env.engine.runSession('wf')).rejects.toThrow('simulated crash')
    const [open] = await env.db.sessions.listByWorkflow('wf')
    await env.restart()
    await env.clock.advance(60_001)
    await env.engine.continueSession(open!.id)
    expect(await runSummary(env.db, 'wf')).toEqual([
      'producer:a:committed:committed',
      'producer:b:committed:committed',
      'consumer:send:committed:committed',
      'consumer:send:committed:committed',
    ])
  })

  it('refuses to continue a session another live worker holds', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    env.crashAt({ point: 'session:after-open' })
    await expect(env.engine.runSession('wf')).rejects.toThrow('simulated crash')
    const [open] = await env.db.sessions.listByWorkflow('wf')
    await env.restart()
    await expect(env.engine.continueSession(open!.id)).rejects.toMatchObject({ code: 'session_busy' })
  })

  it('returns the result of a session that is already closed', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    const result = await env.engine.runSession('wf')
    expect(await env.engine.continueSession(result.sessionId)).toEqual(result)
  })
})
