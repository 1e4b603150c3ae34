import { SpanStatusCode, context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestEngine, recordingTool } from '../../../tests/src/kit/index.js'

const code = `
const workflow = {
  topics: { "mail.in": {} },
  producers: {
    poll: {
      schedule: { interval: "5m" },
      publishes: ["mail.in"],
      handler: async () => {
        await Inbox.list({ folder: "in" })
        await Topics.publish({ topic: "mail.in", event: { messageId: "m1", title: "Mail 1", payload: { n: 1 } } })
      },
    },
  },
  consumers: {
    reply: {
      subscribe: ["mail.in"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "mail.in", limit: 1 })
        if (!e) return { reservations: [] }
        if (e.payload.fail) throw new Error("cannot prepare " + e.messageId)
        return { reservations: [{ topic: "mail.in", ids: [e.messageId] }], data: e.payload, ui: { title: "Reply " + e.messageId } }
      },
      mutate: async (p) => { await Email.send({ n: p.data.n }) },
      next: async (p, r) => ({ last: p.data.n, status: r.status }),
    },
  },
}
`

let exporter: InMemorySpanExporter
let provider: BasicTracerProvider

beforeEach(() => {
  exporter = new InMemorySpanExporter()
  provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  trace.setGlobalTracerProvider(provider)
})

afterEach(async () => {
  trace.disable()
  context.disable()
  await provider.shutdown()
})

/** The finished spans as a tree of names: `parent > child` paths, depth first, siblings in start order. */
function paths(spans: readonly ReadableSpan[]): string[] {
  const ids = new Set(spans.map((s) => s.spanContext().spanId))
  const childrenOf = (parent: string | undefined) =>
    spans
      .filter((s) => (parent === undefined ? !s.parentSpanContext || !ids.has(s.parentSpanContext.spanId) : s.parentSpanContext?.spanId === parent))
      .sort((a, b) => hr(a.startTime) - hr(b.startTime) || hr(a.endTime) - hr(b.endTime))
  const walk = (parent: string | undefined, prefix: string): string[] =>
    childrenOf(parent).flatMap((s) => {
      const path = prefix ? `${prefix} > ${s.name}` : s.name
      return [path, ...walk(s.spanContext().spanId, path)]
    })
  return walk(undefined, '')
}

function hr(t: [number, number]): number {
  return t[0] * 1e9 + t[1]
}

function only(name: string, filter: (s: ReadableSpan) => boolean = () => true): ReadableSpan {
  const found = exporter.getFinishedSpans().filter((s) => s.name === name && filter(s))
  expect(found, `spans named ${name}`).toHaveLength(1)
  return found[0]!
}

async function setup() {
  const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
  const inbox = recordingTool({ namespace: 'Inbox', name: 'list', kind: 'read', result: () => [] })
  const env = await createTestEngine({ tools: [email.tool, inbox.tool] })
  await env.engine.deployWorkflow({ id: 'wf', title: 'Tracing', code })
  return { env, email, inbox }
}

describe('OpenTelemetry spans of a session', () => {
  it('nests session, run, phase and tool-call spans', async () => {
    const { env } = await setup()
    await using _ = env
    expect(await env.engine.runSession('wf')).toMatchObject({ status: 'completed' })

    const S = 'ledgerflow.session'
    const R = `${S} > ledgerflow.run`
    expect(paths(exporter.getFinishedSpans())).toEqual([
      S,
      R,
      `${R} > ledgerflow.phase producer`,
      `${R} > ledgerflow.phase producer > ledgerflow.tool Inbox.list`,
      `${R} > ledgerflow.phase producer > ledgerflow.tool Topics.publish`,
      R,
      `${R} > ledgerflow.phase prepare`,
      `${R} > ledgerflow.phase prepare > ledgerflow.tool Topics.peek`,
      `${R} > ledgerflow.phase mutate`,
      `${R} > ledgerflow.phase mutate > ledgerflow.tool Email.send`,
      `${R} > ledgerflow.phase next`,
    ])
    // One trace: every span shares the session's trace id.
    expect(new Set(exporter.getFinishedSpans().map((s) => s.spanContext().traceId)).size).toBe(1)
  })

  it('describes the session, its runs, phases and tool calls with attributes', async () => {
    const { env } = await setup()
    await using _ = env
    const result = await env.engine.runSession('wf')

    expect(only('ledgerflow.session').attributes).toMatchObject({
      'ledgerflow.session_id': result.sessionId,
      'ledgerflow.workflow_id': 'wf',
      'ledgerflow.trigger': 'manual',
      'ledgerflow.status': 'completed',
      'ledgerflow.worker_id': env.engine.workerId,
    })
    const runs = exporter.getFinishedSpans().filter((s) => s.name === 'ledgerflow.run')
    expect(runs.map((s) => [s.attributes['ledgerflow.handler'], s.attributes['ledgerflow.phase'], s.attributes['ledgerflow.status']])).toEqual([
      ['producer:poll', 'committed', 'committed'],
      ['consumer:reply', 'committed', 'committed'],
    ])
    expect(runs[0]!.attributes).toMatchObject({ 'ledgerflow.session_id': result.sessionId, 'ledgerflow.workflow_id': 'wf' })
    expect(only('ledgerflow.phase mutate').attributes).toMatchObject({ 'ledgerflow.handler': 'consumers.reply.mutate', 'ledgerflow.host_calls': 1 })
    expect(only('ledgerflow.tool Inbox.list').attributes).toMatchObject({
      'ledgerflow.tool': 'Inbox.list',
      'ledgerflow.tool_kind': 'read',
      'ledgerflow.phase': 'producer',
      'ledgerflow.workflow_id': 'wf',
    })
    expect(only('ledgerflow.tool Topics.publish').attributes).toMatchObject({ 'ledgerflow.tool_kind': 'topics', 'ledgerflow.topic': 'mail.in' })
    const [ledger] = await env.db.mutations.listByWorkflow('wf')
    expect(only('ledgerflow.tool Email.send').attributes).toMatchObject({
      'ledgerflow.tool_kind': 'mutation',
      'ledgerflow.mutation_id': ledger!.id,
      'ledgerflow.idempotency_key': ledger!.idempotency_key,
      'ledgerflow.run_id': ledger!.handler_run_id,
    })
    for (const s of exporter.getFinishedSpans()) expect(s.status.code, s.name).not.toBe(SpanStatusCode.ERROR)
  })

  it('marks a failed phase, its run and its session as errors', async () => {
    const { env } = await setup()
    await using _ = env
    await env.engine.publish('wf', 'mail.in', { messageId: 'bad', title: 'Bad', payload: { fail: true } })
    const result = await env.engine.runSession('wf', { trigger: 'event' })
    expect(result.status).toBe('failed')

    const phase = only('ledgerflow.phase prepare')
    expect(phase.status.code).toBe(SpanStatusCode.ERROR)
    expect(phase.status.message).toMatch(/cannot prepare bad.*workflow\.js:\d+:\d+/)
    const run = only('ledgerflow.run')
    expect(run.status).toMatchObject({ code: SpanStatusCode.ERROR })
    expect(run.attributes).toMatchObject({ 'ledgerflow.status': 'failed', 'ledgerflow.error_type': 'logic' })
    const session = only('ledgerflow.session')
    expect(session.status.code).toBe(SpanStatusCode.ERROR)
    expect(session.attributes).toMatchObject({ 'ledgerflow.status': 'failed', 'ledgerflow.trigger': 'event', 'ledgerflow.error_type': 'logic' })
    expect(phase.parentSpanContext?.spanId).toBe(run.spanContext().spanId)
    expect(run.parentSpanContext?.spanId).toBe(session.spanContext().spanId)
  })

  it('marks a failed tool call as an error span inside its phase', async () => {
    const { env, inbox } = await setup()
    await using _ = env
    inbox.script({ error: 'network', message: 'inbox unreachable' })
    const result = await env.engine.runSession('wf')
    expect(result.status).toBe('suspended')

    const tool = only('ledgerflow.tool Inbox.list')
    expect(tool.status).toEqual({ code: SpanStatusCode.ERROR, message: 'inbox unreachable' })
    expect(tool.attributes['ledgerflow.error_type']).toBe('network')
    expect(tool.parentSpanContext?.spanId).toBe(only('ledgerflow.phase producer').spanContext().spanId)
    expect(only('ledgerflow.run').attributes).toMatchObject({ 'ledgerflow.status': 'waiting', 'ledgerflow.error_type': 'network' })
    expect(only('ledgerflow.session').attributes).toMatchObject({ 'ledgerflow.status': 'suspended' })
  })

  it('marks a refused tool call (wrong phase) as an error span', async () => {
    const { env } = await setup()
    await using _ = env
    await env.engine.deployWorkflow({
      id: 'wf',
      title: 'Tracing',
      code: code.replace('await Inbox.list({ folder: "in" })', 'await Topics.peek({ topic: "mail.in" })'),
    })
    expect((await env.engine.runSession('wf')).status).toBe('failed')
    const tool = only('ledgerflow.tool Topics.peek')
    expect(tool.status.code).toBe(SpanStatusCode.ERROR)
    expect(tool.attributes).toMatchObject({ 'ledgerflow.error_type': 'logic', 'ledgerflow.phase': 'producer' })
  })
})
