import { describe, expect, it } from 'vitest'
import { createTestEngine, recordingTool } from '../../tests/src/kit/index.js'
import { EngineEmitter, type EngineEventName } from './events.js'

const code = `
const workflow = {
  topics: { "mail.in": {} },
  producers: {
    poll: {
      schedule: { interval: "5m" },
      publishes: ["mail.in"],
      handler: async () => { await Topics.publish({ topic: "mail.in", event: { messageId: "m1", title: "Mail", payload: { n: 1 } } }) },
    },
  },
  consumers: {
    reply: {
      subscribe: ["mail.in"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "mail.in", limit: 1 })
        if (!e) return { reservations: [] }
        if (e.payload.fail) throw new Error("refusing " + e.messageId)
        return { reservations: [{ topic: "mail.in", ids: [e.messageId] }], data: e.payload }
      },
      mutate: async (p) => { await Email.send({ n: p.data.n }) },
      next: async () => ({ done: true }),
    },
  },
}
`

const LIFECYCLE: readonly EngineEventName[] = [
  'session:start',
  'session:end',
  'run:start',
  'run:phase',
  'run:end',
  'mutation:in_flight',
  'mutation:applied',
  'mutation:failed',
  'event:published',
  'workflow:status',
]

async function setup() {
  const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
  const env = await createTestEngine({ tools: [email.tool] })
  await env.engine.deployWorkflow({ id: 'wf', title: 'Events', code })
  env.events.clear()
  return { env, email }
}

describe('engine events of a session', () => {
  it('emits the lifecycle of a session in order: session, runs, phases, ledger, end', async () => {
    const { env } = await setup()
    await using _ = env
    await env.engine.runSession('wf')

    const seen = env.events.log.filter((e) => LIFECYCLE.includes(e.event)).map((e) => e.event)
    expect(seen).toEqual([
      'session:start',
      // the producer: executing → committed, publishing m1 on commit
      'run:start',
      'run:phase',
      'event:published',
      'run:end',
      // the consumer: prepared; mutating with its ledger row in flight; mutated with the row applied; next commits
      'run:start',
      'run:phase',
      'run:phase',
      'mutation:in_flight',
      'run:phase',
      'mutation:applied',
      'run:phase',
      'run:end',
      'session:end',
    ])
    expect(env.events.list('run:phase').map((p) => p.phase)).toEqual(['committed', 'prepared', 'mutating', 'mutated', 'committed'])
  })

  it('carries ids that tie sessions, runs and ledger rows together', async () => {
    const { env } = await setup()
    await using _ = env
    const result = await env.engine.runSession('wf')

    const [start] = env.events.list('session:start')
    expect(start).toEqual({ sessionId: result.sessionId, workflowId: 'wf', trigger: 'manual' })
    const runs = env.events.list('run:start')
    expect(runs.map((r) => [r.sessionId, r.handlerType, r.handlerName])).toEqual([
      [result.sessionId, 'producer', 'poll'],
      [result.sessionId, 'consumer', 'reply'],
    ])
    const consumerRun = runs[1]!.runId
    const [inFlight] = env.events.list('mutation:in_flight')
    const [applied] = env.events.list('mutation:applied')
    expect(inFlight).toMatchObject({ runId: consumerRun, workflowId: 'wf', tool: 'Email.send' })
    expect(applied).toEqual(inFlight)
    expect((await env.db.mutations.getByRun(consumerRun))?.id).toBe(inFlight!.mutationId)
    expect(env.events.list('run:end').map((e) => [e.runId, e.status])).toEqual([
      [runs[0]!.runId, 'committed'],
      [consumerRun, 'committed'],
    ])
    expect(env.events.list('session:end')).toEqual([{ sessionId: result.sessionId, workflowId: 'wf', status: 'completed' }])
  })

  it('reports a failed run, the workflow moving to error and the failed session', async () => {
    const { env, email } = await setup()
    await using _ = env
    await env.engine.publish('wf', 'mail.in', { messageId: 'bad', title: 'Bad', payload: { fail: true } })
    env.events.clear()
    await env.engine.runSession('wf', { trigger: 'event' })

    const seen = env.events.log.filter((e) => LIFECYCLE.includes(e.event)).map((e) => e.event)
    expect(seen).toEqual(['session:start', 'run:start', 'run:phase', 'workflow:status', 'run:end', 'session:end'])
    expect(env.events.list('run:end')[0]).toMatchObject({ status: 'failed', errorType: 'logic', error: expect.stringContaining('refusing bad') })
    expect(env.events.list('workflow:status')).toEqual([expect.objectContaining({ workflowId: 'wf', from: 'active', to: 'error' })])
    expect(env.events.list('session:end')[0]).toMatchObject({ status: 'failed', error: expect.stringContaining('refusing bad') })
    expect(email.calls).toEqual([])
  })

  it('reports tool calls with their phase, duration and outcome', async () => {
    const { env } = await setup()
    await using _ = env
    await env.engine.runSession('wf')
    const calls = env.events.list('tool:call').map((c) => [c.phase, c.tool, c.ok])
    expect(calls).toEqual([
      ['producer', 'Topics.publish', true],
      ['prepare', 'Topics.peek', true],
      ['mutate', 'Email.send', true],
    ])
    for (const c of env.events.list('tool:call')) expect(c.ms).toBeGreaterThanOrEqual(0)
  })

  it('writes DEBUG=ledgerflow:session lines to stderr for the engine it is set for', async () => {
    const before = process.env.DEBUG
    const writes: string[] = []
    const original = process.stderr.write.bind(process.stderr)
    process.env.DEBUG = 'ledgerflow:session'
    process.stderr.write = ((chunk: string) => {
      writes.push(String(chunk))
      return true
    }) as typeof process.stderr.write
    try {
      const { env } = await setup()
      await using _ = env
      await env.engine.runSession('wf')
    } finally {
      process.stderr.write = original
      if (before === undefined) delete process.env.DEBUG
      else process.env.DEBUG = before
    }
    const lines = writes.filter((w) => w.includes(' ledgerflow:'))
    expect(lines).toEqual([
      expect.stringMatching(/^2026-01-01T12:00:00\.000Z ledgerflow:session session:start sessionId=\S+ workflowId=wf trigger=manual\n$/),
      expect.stringMatching(/^2026-01-01T12:00:00\.000Z ledgerflow:session session:end sessionId=\S+ workflowId=wf status=completed\n$/),
    ])
  })
})

describe('EngineEmitter', () => {
  it('keeps delivering when a listener throws, and reports it on listener:error', () => {
    const emitter = new EngineEmitter()
    const got: string[] = []
    const errors: unknown[] = []
    emitter.on('listener:error', (e) => errors.push(e.error))
    emitter.on('worker:start', () => {
      throw new Error('bad listener')
    })
    emitter.on('worker:start', (e) => got.push(e.workerId))
    emitter.emit('worker:start', { workerId: 'w1' })
    expect(got).toEqual(['w1'])
    expect(errors).toEqual([new Error('bad listener')])
  })

  it('removes a listener with the function on() returns and runs once() listeners once', () => {
    const emitter = new EngineEmitter()
    const got: string[] = []
    const off = emitter.on('worker:start', (e) => got.push(`on:${e.workerId}`))
    emitter.once('worker:start', (e) => got.push(`once:${e.workerId}`))
    emitter.emit('worker:start', { workerId: 'a' })
    off()
    emitter.emit('worker:start', { workerId: 'b' })
    expect(got).toEqual(['on:a', 'once:a'])
    expect(emitter.listenerCount('worker:start')).toBe(0)
  })

  it('gives onAny listeners every event with its name before the named listeners', () => {
    const emitter = new EngineEmitter()
    const got: string[] = []
    emitter.on('worker:stop', () => got.push('named'))
    const off = emitter.onAny((event) => got.push(`any:${event}`))
    emitter.emit('worker:stop', { workerId: 'w', graceful: true })
    off()
    emitter.emit('worker:stop', { workerId: 'w', graceful: true })
    expect(got).toEqual(['any:worker:stop', 'named', 'named'])
  })
})
