/** One session per workflow, enforced by the database: canStartSession, IfIdle, concurrent starts. */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Engine, defineTool } from '@ledgerflow/agent'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { checkInvariants } from '../src/kit/index.js'
import { describeBackends } from './backends.js'
import { PIPELINE, pipelineEnv } from './fixtures.js'

/** A read tool that runs `probe` inside the session and keeps what it returned. */
function probeTool(probe: () => Promise<unknown>) {
  const seen: unknown[] = []
  const tool = defineTool({
    namespace: 'Probe',
    name: 'read',
    kind: 'read',
    description: 'Runs a probe from inside a session.',
    input: z.unknown(),
    async execute() {
      seen.push(await probe())
      return null
    },
  })
  return { tool, seen }
}

const PROBED = `const workflow = {
  topics: { items: {} },
  producers: { p: { schedule: { interval: "1m" }, publishes: [], handler: async () => { await Probe.read({}) } } },
  consumers: { c: { subscribe: ["items"], prepare: async () => ({ reservations: [] }) } },
}`

describeBackends('canStartSession', (backend) => {
  it('answers true for an active, idle workflow and false in every other state', async () => {
    await using env = await pipelineEnv(backend)
    expect(await env.engine.canStartSession('missing')).toBe(false)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE, activate: false })
    expect(await env.engine.canStartSession('wf')).toBe(false) // draft, no active script
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    expect(await env.engine.canStartSession('wf')).toBe(true)
    await env.engine.pause('wf')
    expect(await env.engine.canStartSession('wf')).toBe(false)
    await env.engine.resume('wf')
    expect(await env.engine.canStartSession('wf')).toBe(true)
    await env.db.workflows.transitionStatus('wf', { from: ['active'], to: 'error', now: env.clock.now() })
    expect(await env.engine.canStartSession('wf')).toBe(false)
  })

  it('answers false while a session is open and true again once all its runs are finished', async () => {
    let engine: Engine | undefined
    const probe = probeTool(() => engine!.canStartSession('wf'))
    await using env = await pipelineEnv({ ...backend, tools: [probe.tool] })
    engine = env.engine
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PROBED })
    await env.engine.runSession('wf')
    expect(probe.seen).toEqual([false])
    expect(await env.engine.canStartSession('wf')).toBe(true)
  })
})

describeBackends('executeWorkflowSessionIfIdle', (backend) => {
  it('returns null while another session is open', async () => {
    let engine: Engine | undefined
    const probe = probeTool(() => engine!.runSessionIfIdle('wf'))
    await using env = await pipelineEnv({ ...backend, tools: [probe.tool] })
    engine = env.engine
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PROBED })
    const outer = await env.engine.runSession('wf')
    expect(outer.status).toBe('completed')
    expect(probe.seen).toEqual([null])
    expect(await env.db.sessions.listByWorkflow('wf')).toHaveLength(1)
  })

  it('runs the session when the workflow is idle', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    const result = await env.engine.runSessionIfIdle('wf')
    expect(result).toMatchObject({ status: 'completed' })
    expect(env.out.calls).toHaveLength(3)
  })

  it('throws SessionBusyError from runSession when a session is open', async () => {
    let engine: Engine | undefined
    const probe = probeTool(() => engine!.runSession('wf').catch((e: unknown) => (e as { code: string }).code))
    await using env = await pipelineEnv({ ...backend, tools: [probe.tool] })
    engine = env.engine
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PROBED })
    await env.engine.runSession('wf')
    expect(probe.seen).toEqual(['session_busy'])
  })
})

describeBackends('concurrent starts', (backend) => {
  it('gives exactly one session to two starts racing with Promise.all in one process', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PIPELINE })
    const results = await Promise.all([env.engine.runSessionIfIdle('wf'), env.engine.runSessionIfIdle('wf'), env.engine.runSessionIfIdle('wf')])
    expect(results.filter((r) => r !== null)).toHaveLength(1)
    expect(await env.db.sessions.listByWorkflow('wf')).toHaveLength(1)
    expect(env.out.calls).toHaveLength(3)
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })
})

describe('concurrent starts on one SQLite file', () => {
  it('gives exactly one session to two processes starting at the same moment on one file', async () => {
    await using env = await pipelineEnv()
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: PROBED.replace('Probe.read', 'Hold.read') })
    const script = fileURLToPath(new URL('./children/concurrent-start.mjs', import.meta.url))
    const children = ['a', 'b'].map((name) => fork(script, [env.file!, name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
    const messages: Array<{ type: string; name: string; result?: unknown; error?: string }> = []
    let onMessage = () => {}
    for (const c of children) {
      c.on('message', (m) => {
        messages.push(m as never)
        onMessage()
      })
    }
    const waitFor = (predicate: () => boolean) =>
      new Promise<void>((resolve) => {
        onMessage = () => {
          if (predicate()) resolve()
        }
        onMessage()
      })
    await waitFor(() => messages.filter((m) => m.type === 'ready').length === 2)
    for (const c of children) c.send('go')
    // One child is inside its session (holding it open); the other must have been refused meanwhile.
    await waitFor(() => messages.some((m) => m.type === 'in-session') && messages.filter((m) => m.type === 'result').length === 1)
    // Only the child still in its session needs 'finish': the refused one has reported and exits on its own, so a
    // message to it could meet a closed channel (EPIPE). The callback takes such an error instead of the process.
    const finished = new Set(messages.filter((m) => m.type === 'result').map((m) => m.name))
    ;['a', 'b'].forEach((name, i) => {
      const child = children[i]!
      if (!finished.has(name) && child.connected) child.send('finish', () => {})
    })
    await waitFor(() => messages.filter((m) => m.type === 'result').length === 2)
    await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.on('exit', resolve)))))
    const results = messages.filter((m) => m.type === 'result')
    expect(results.map((r) => r.error)).toEqual([undefined, undefined])
    expect(results.filter((r) => r.result === null)).toHaveLength(1)
    expect(results.filter((r) => (r.result as { status?: string } | null)?.status === 'completed')).toHaveLength(1)
    expect(await env.db.sessions.listByWorkflow('wf')).toHaveLength(1)
  })
})
