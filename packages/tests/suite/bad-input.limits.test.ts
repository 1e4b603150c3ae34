/**
 * Oversized and runaway input (SPEC §4, §13.6): payloads, states, results, publishes, memory, CPU, log lines and
 * tools that never answer. Each gets a classified error naming the limit, or (logs) is capped with a note; what the
 * workflow committed before stays as it was.
 */
import { describe, expect, it } from 'vitest'
import { checkInvariants, recordingTool } from '../src/kit/index.js'
import { badInputEnv, committed, unfinishedRuns, variant } from './bad-input.helpers.js'

const LIMITS = {
  config: { maxPayloadBytes: 1000, maxStateBytes: 1000, maxLogLinesPerRun: 10, maxPublishesPerRun: 20 },
  sandbox: { memoryLimitBytes: 16 * 1024 * 1024, timeoutMs: 1000, maxResultBytes: 100_000 },
}

/** [what, producer body, error]: each fails the producer run with a logic error. */
const PRODUCER_LIMITS: Array<[string, string, RegExp]> = [
  ['an event payload over maxPayloadBytes', 'await Topics.publish({ topic: "items", event: { messageId: "big", payload: "x".repeat(5000) } })\n        return {}', /^producer 'gen': Topics\.publish: payload of event 'big' is 5002 bytes; the limit is 1000 \(workflow\.js:\d+:\d+\)$/],
  ['a state over maxStateBytes', 'return { blob: "y".repeat(5000) }', /^'gen' returned a state of 5011 bytes; the limit is 1000$/],
  ['more publishes than maxPublishesPerRun', 'for (let i = 0; i < 30; i++) await Topics.publish({ topic: "items", event: { messageId: "p" + i } })\n        return {}', /Topics\.publish: more than 20 events in one run/],
  ['a messageId over 512 characters', 'await Topics.publish({ topic: "items", event: { messageId: "m".repeat(600) } })\n        return {}', /Invalid input for Topics\.publish: event\.messageId: Too big: .*Usage: Topics\.publish\(/],
  ['a result over maxResultBytes', 'return { r: "q".repeat(300000) }', /LimitError: The handler result is larger than 100000 bytes/],
  ['a memory bomb', 'const a = []\n        for (;;) a.push("z".repeat(100000))', /OutOfMemoryError: The script used more than its 16777216 bytes of memory/],
  // The CPU deadline, or on a machine too busy to give the script that CPU, the wall-clock bound.
  ['an endless loop', 'for (;;) {}', /TimeoutError: The script ran for more than 1000 ms of CPU time|did not finish within/],
]

describe('limits of a run', () => {
  it.each(PRODUCER_LIMITS)('fails the run with a classified logic error on %s, keeping the state and events committed before', async (_what, body, error) => {
    await using env = await badInputEnv(LIMITS)
    await env.engine.deployWorkflow({ id: 'wf', title: 'Limits', code: variant({ next: 'async (p) => ({ last: p.data ? p.data.id : null })' }) })
    await env.engine.runSession('wf')
    const before = await committed(env.db, 'wf')
    const bystander = await committed(env.db, 'bystander')
    await env.engine.deployWorkflow({ id: 'wf', title: 'Limits', code: variant({ producer: body }) })

    const result = await env.engine.runSession('wf')

    expect(result).toMatchObject({ status: 'failed', errorType: 'logic', error: expect.stringMatching(error) })
    expect(await unfinishedRuns(env.db, 'wf')).toEqual([{ handler: 'gen', phase: 'executing', status: 'failed', errorType: 'logic', error: expect.stringMatching(error) }])
    const after = await committed(env.db, 'wf')
    expect({ events: after.events, states: after.states, mutations: after.mutations }).toEqual({ events: before.events, states: before.states, mutations: before.mutations })
    expect(await committed(env.db, 'bystander')).toEqual(bystander)
    expect(await checkInvariants(env.db, { effects: [env.out] })).toEqual([])
  })

  it('fails a next whose state is over maxStateBytes after the mutation, keeping its reservation and the old state', async () => {
    await using env = await badInputEnv(LIMITS)
    await env.engine.deployWorkflow({ id: 'wf', title: 'Limits', code: variant({ next: 'async () => ({ blob: "s".repeat(3000) })' }) })

    const result = await env.engine.runSession('wf')

    expect(result).toMatchObject({ status: 'failed', errorType: 'logic', error: "'send' returned a state of 3011 bytes; the limit is 1000" })
    expect(await env.db.handlerState.get('wf', 'send')).toBeUndefined()
    expect((await env.db.events.listByWorkflow('wf')).map((e) => `${e.message_id}:${e.status}`)).toEqual(['m0:reserved', 'm1:pending'])
    expect(await env.db.mutations.listByWorkflow('wf')).toEqual([expect.objectContaining({ status: 'applied' })])
    expect(await checkInvariants(env.db, { effects: [env.out] })).toEqual([])
  })

  it('refuses an external publish over maxPayloadBytes with a classified error, publishing nothing', async () => {
    await using env = await badInputEnv(LIMITS)
    await env.engine.deployWorkflow({ id: 'wf', title: 'Limits', code: variant({}) })
    await expect(env.engine.publish('wf', 'items', { messageId: 'x', payload: 'p'.repeat(2000) })).rejects.toMatchObject({
      type: 'logic',
      code: 'payload_too_large',
      message: 'publish: payload is 2002 bytes; the limit is 1000',
    })
    expect(await env.db.events.listByWorkflow('wf')).toEqual([])
  })
})

describe('logs of a run', () => {
  it('keeps maxLogLinesPerRun lines and one note saying the rest was dropped, and the run commits', async () => {
    await using env = await badInputEnv(LIMITS)
    await env.engine.deployWorkflow({ id: 'wf', title: 'Chatty', code: variant({ producer: 'for (let i = 0; i < 50; i++) console.log("line " + i)\n        return {}' }) })

    const result = await env.engine.runSession('wf')

    expect(result.status).toBe('completed')
    const [run] = await env.db.kysely.selectFrom('handler_runs').select(['id', 'status']).where('workflow_id', '=', 'wf').execute()
    expect(run?.status).toBe('committed')
    const logs = await env.db.logs.list(run!.id)
    expect(logs).toHaveLength(11)
    expect(logs.slice(0, 10).map((l) => l.message)).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i}`))
    expect(logs[10]).toMatchObject({ level: 'warn', message: 'log limit of 10 lines per run reached; further lines are dropped' })
  })

  it('cuts a 100 kB log line instead of storing it whole', async () => {
    await using env = await badInputEnv(LIMITS)
    await env.engine.deployWorkflow({ id: 'wf', title: 'Long line', code: variant({ producer: 'console.log("L".repeat(100000))\n        return {}' }) })
    await env.engine.runSession('wf')
    const [run] = await env.db.kysely.selectFrom('handler_runs').select('id').where('workflow_id', '=', 'wf').execute()
    const [line] = await env.db.logs.list(run!.id)
    expect(line!.message.length).toBeGreaterThan(1000)
    expect(line!.message.length).toBeLessThan(20_000)
  })
})

describe('a tool that never answers', () => {
  it('times the call out as a network error, retries the run with backoff, and commits on the next attempt', async () => {
    const slow = recordingTool({ namespace: 'Slow', name: 'read', kind: 'read', outcomes: ['never'], timeoutMs: 100, result: () => ({ ok: 1 }) })
    await using env = await badInputEnv({ ...LIMITS, tools: [slow.tool] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'Slow', code: variant({ producer: 'await Slow.read({})\n        return { read: true }' }) })

    const first = await env.engine.runSession('wf')

    expect(first.status).toBe('suspended')
    const [waiting] = await env.db.runs.listUnfinished('wf')
    expect(waiting).toMatchObject({ status: 'waiting', error_type: 'network', error: expect.stringMatching(/Slow\.read timed out after 100 ms \(workflow\.js:\d+:\d+\)/) })
    await env.clock.advanceTo(waiting!.retry_at!)
    expect(await env.engine.runSession('wf', { trigger: 'retry' })).toMatchObject({ status: 'completed' })
    expect(await env.db.handlerState.get('wf', 'gen')).toMatchObject({ state: '{"read":true}' })
  })
})
