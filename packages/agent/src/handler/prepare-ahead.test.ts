import { describe, expect, it } from 'vitest'
import { type TestEngine, checkInvariants, createTestEngine, recordingTool } from '../../../tests/src/kit/index.js'
import { type Backend, SQLITE, describeBackends } from '../../../tests/suite/backends.js'
import type { CrashSite } from '../faults.js'
import { until } from '../test-helpers/worker-env.js'
import { startPrepareAhead } from './phase-evaluations.js'

/** A consumer whose prepare reads the topic, logs, and calls a tool of its own before it reserves. */
const code = `
const workflow = {
  topics: { "in": {} },
  producers: {},
  consumers: {
    send: {
      subscribe: ["in"],
      prepare: async (state) => {
        const [e] = await Topics.peek({ topic: "in", limit: 1 })
        console.log("prepare sees " + (e ? e.messageId : "nothing"))
        await Feed.get({ id: e ? e.messageId : null })
        return e ? { reservations: [{ topic: "in", ids: [e.messageId] }], data: { id: e.messageId } } : { reservations: [] }
      },
      next: async (p, m) => ({ last: p.data.id ?? null }),
    },
  },
}
`

async function setup(options: { backend?: Backend; headStart?: boolean; onCrashPoint?: (site: CrashSite, env: TestEngine) => void } = {}) {
  const feed = recordingTool({ namespace: 'Feed', name: 'get', kind: 'read' })
  const holder: { env?: TestEngine } = {}
  const env = await createTestEngine({
    ...(options.backend ?? SQLITE),
    tools: [feed.tool],
    config: { headStart: options.headStart ?? true },
    ...(options.onCrashPoint ? { onCrashPoint: (site: CrashSite) => options.onCrashPoint!(site, holder.env!) } : {}),
  })
  holder.env = env
  await env.engine.deployWorkflow({ id: 'wf', title: 'Prepare ahead', code })
  await env.engine.publish('wf', 'in', { messageId: 'a1', title: 'a1', payload: {} })
  return { env, feed }
}

const aheadEvents = (env: TestEngine) => env.events.list('evaluation:ahead').map((e) => [e.phase, e.taken])

describeBackends('prepare started while its run is created (on SQLite; in its turn on PostgreSQL)', (backend) => {
  it('commits the same run, logs and state as a prepare evaluated in its turn', async () => {
    const results = []
    for (const headStart of [false, true]) {
      const { env, feed } = await setup({ backend, headStart })
      await using _ = env
      expect(await env.engine.runSession('wf')).toMatchObject({ status: 'completed' })
      const [run] = await env.db.runs.listByWorkflow('wf')
      results.push({
        run: { phase: run!.phase, status: run!.status, prepare: run!.prepare_result, input: run!.input_state, output: run!.output_state },
        logs: (await env.db.logs.list(run!.id)).map((l) => `${l.phase} ${l.message}`),
        calls: feed.calls.map((c) => c.input),
        ahead: aheadEvents(env).filter(([phase]) => phase === 'prepare'),
      })
      expect(await checkInvariants(env.db)).toEqual([])
    }
    const [off, on] = results
    // Started ahead on SQLite only (see `prepareAhead` in drive-session.ts).
    expect(on!.ahead).toEqual(backend.backend === 'sqlite' ? [['prepare', true]] : [])
    expect(off!.ahead).toEqual([])
    expect({ ...on, ahead: [] }).toEqual({ ...off, ahead: [] })
    expect(on!.calls).toEqual([{ id: 'a1' }])
  })

  it("runs none of a prepare's tool calls when the process dies right after its run's row was written", async () => {
    const { env, feed } = await setup({ backend })
    await using _ = env
    env.crashAt({ point: 'run:after-create' })
    await expect(env.engine.runSession('wf')).rejects.toThrow(/simulated crash/i)
    expect(aheadEvents(env)).toEqual(backend.backend === 'sqlite' ? [['prepare', false]] : [])
    expect(feed.calls).toEqual([])
    const [created] = await env.db.runs.listByWorkflow('wf')
    expect(created).toMatchObject({ phase: 'preparing', status: 'active' })
    expect(await env.db.logs.list(created!.id)).toEqual([])

    const engine = await env.restart()
    await engine.recover({ force: true })
    expect(feed.calls.map((c) => c.input)).toEqual([{ id: 'a1' }])
    expect((await env.db.runs.listByWorkflow('wf')).map((r) => r.status)).toEqual(['committed'])
    expect((await env.db.logs.list(created!.id)).map((l) => l.message)).toEqual(['prepare sees a1'])
    expect(await checkInvariants(env.db)).toEqual([])
  })
})

describe('prepare started ahead: its gate', () => {
  it('lets its reads of the topic through at once and holds its own tool call until the turn takes it', async () => {
    const { env, feed } = await setup()
    await using _ = env
    const ctx = env.engine.context
    const workflow = await env.db.workflows.get('wf')
    const script = await ctx.loadScript(workflow!.active_script_id!)
    const run = { id: 'run_ahead', workflow_id: 'wf', handler_type: 'consumer' as const, handler_name: 'send', attempt: 1 }
    const ahead = startPrepareAhead({ ctx, run, script }, null)!
    await until(() => env.events.list('tool:call').some((e) => e.tool === 'Topics.peek'), 'the peek to run')
    for (let i = 0; i < 50; i++) await new Promise<void>((resolve) => setImmediate(resolve))
    expect(feed.calls).toEqual([])
    const result = await ahead.open()
    expect(result).toEqual({ ok: true, value: { reservations: [{ topic: 'in', ids: ['a1'] }], data: { id: 'a1' } } })
    expect(feed.calls.map((c) => c.input)).toEqual([{ id: 'a1' }])
    expect(ahead.buffer.takeLogs().map((l) => l.message)).toEqual(['prepare sees a1'])
  })

  it('is not started with headStart off, nor for a consumer the script does not have', async () => {
    const { env } = await setup({ headStart: false })
    await using _ = env
    const ctx = env.engine.context
    const script = await ctx.loadScript((await env.db.workflows.get('wf'))!.active_script_id!)
    const run = { id: 'run_x', workflow_id: 'wf', handler_type: 'consumer' as const, handler_name: 'send', attempt: 1 }
    expect(startPrepareAhead({ ctx, run, script }, null)).toBeUndefined()
    const on = await setup()
    await using _on = on.env
    const script2 = await on.env.engine.context.loadScript((await on.env.db.workflows.get('wf'))!.active_script_id!)
    expect(startPrepareAhead({ ctx: on.env.engine.context, run: { ...run, handler_name: 'missing' }, script: script2 }, null)).toBeUndefined()
  })
})

// The pause comes from the crash-point hook, which is synchronous: a synchronous write needs SQLite's native handle.
describe('prepare started ahead: an operator pause [sqlite]', () => {
  it("abandons it when the workflow is paused while the run's row is written: no call, no log line", async () => {
    let paused = false
    const { env, feed } = await setup({
      onCrashPoint(site, e) {
        if (paused || site.point !== 'run:after-create') return
        paused = true
        e.db.native!.prepare(`update workflows set status = 'paused' where id = 'wf'`).run()
      },
    })
    await using _ = env
    expect(await env.engine.runSession('wf')).toMatchObject({ status: 'suspended' })
    expect(aheadEvents(env)).toEqual([['prepare', false]])
    expect(feed.calls).toEqual([])
    const [run] = await env.db.runs.listByWorkflow('wf')
    expect(run).toMatchObject({ phase: 'preparing', status: 'paused' })
    expect((await env.db.logs.list(run!.id)).some((l) => l.message.startsWith('prepare'))).toBe(false)

    await env.engine.resume('wf')
    await env.engine.runSession('wf')
    expect(feed.calls.map((c) => c.input)).toEqual([{ id: 'a1' }])
    expect((await env.db.logs.list(run!.id)).filter((l) => l.message === 'prepare sees a1')).toHaveLength(1)
    expect(await checkInvariants(env.db)).toEqual([])
  })
})
