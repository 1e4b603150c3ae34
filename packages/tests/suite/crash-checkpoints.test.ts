/**
 * A crash at every checkpoint of a session (every crash point, every phase, every occurrence), then recovery: the
 * mutation tool is executed at most once per event, and the final state equals a clean run's (SPEC §13.5).
 */
import type { CrashSite } from '@ledgerflow/agent'
import { expect, it } from 'vitest'
import { type TestEngine, checkInvariants } from '../src/kit/index.js'
import { type Backend, describeBackends } from './backends.js'
import { durableState, pipelineEnv, producer, consumer, script } from './fixtures.js'

const CODE = script({ producers: [producer('gen', { count: 2 })], consumers: [consumer('send')] })

/** Drives the workflow until nothing is left: due retries are run after advancing the clock. */
async function settle(env: TestEngine): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const [unfinished] = await env.db.runs.listUnfinished('wf')
    const pending = (await env.db.events.countByStatus('wf')).pending ?? 0
    if (!unfinished && pending === 0) return
    if (unfinished?.status === 'waiting' && unfinished.retry_at !== null) await env.clock.advanceTo(unfinished.retry_at)
    await env.engine.runSession('wf', { trigger: unfinished ? 'retry' : 'event' })
  }
  throw new Error('workflow did not settle')
}

/** Effects (applied or skipped mutations) rather than every ledger row: a retried attempt leaves a failed row. */
async function finalState(env: TestEngine) {
  const state = await durableState(env.db, 'wf')
  const withoutIds = (text: string) => text.replace(/lf-mut_\d+/g, 'lf-mut_*')
  return {
    ...state,
    states: state.states.map(withoutIds),
    mutations: state.mutations.filter((m) => !m.endsWith(':failed')),
  }
}

async function cleanRun(backend: Backend) {
  await using env = await pipelineEnv(backend)
  await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: CODE })
  await env.engine.runSession('wf')
  const sites = [...env.sites]
  return { state: await finalState(env), sites }
}

/** Every (point, phase, occurrence) a clean run passes through. */
function crashPlan(sites: CrashSite[]): Array<{ point: CrashSite['point']; phase?: string; nth: number }> {
  const seen = new Map<string, number>()
  return sites.map((s) => {
    const key = `${s.point}|${s.phase ?? ''}`
    const nth = (seen.get(key) ?? 0) + 1
    seen.set(key, nth)
    return { point: s.point, ...(s.phase ? { phase: s.phase } : {}), nth }
  })
}

describeBackends('crash at every checkpoint, then recover', async (backend) => {
  const clean = await cleanRun(backend)
  const plan = crashPlan(clean.sites)

  it('passes through every kind of crash point in a clean run', () => {
    expect(new Set(plan.map((p) => p.point))).toEqual(
      new Set(['session:after-open', 'run:after-create', 'run:before-checkpoint', 'run:after-checkpoint', 'mutation:after-in-flight', 'mutation:after-call', 'session:before-close']),
    )
  })

  it.each(plan.map((p) => [`${p.point}${p.phase ? ` (${p.phase})` : ''} #${p.nth}`, p] as const))(
    'reaches the clean final state after a crash at %s',
    async (_name, match) => {
      await using env = await pipelineEnv(backend)
      await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: CODE })
      env.crashAt(match)
      await expect(env.engine.runSession('wf')).rejects.toThrow('simulated crash')
      await env.restart()
      await env.engine.recover({ force: true })
      await settle(env)
      expect(env.out.duplicateEffects()).toEqual([])
      expect(env.out.effects.entries()).toHaveLength(2)
      expect(await finalState(env)).toEqual(clean.state)
      expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
    },
  )

  it('survives a second crash during recovery', async () => {
    await using env = await pipelineEnv(backend)
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: CODE })
    env.crashAt({ point: 'mutation:after-call' })
    await expect(env.engine.runSession('wf')).rejects.toThrow('simulated crash')
    await env.restart()
    env.crashAt({ point: 'run:after-checkpoint', phase: 'mutated' })
    await expect(env.engine.recover({ force: true })).rejects.toThrow('simulated crash')
    await env.restart()
    await env.engine.recover({ force: true })
    await settle(env)
    expect(env.out.effects.entries()).toHaveLength(2)
    expect(env.out.duplicateEffects()).toEqual([])
    expect(await finalState(env)).toEqual(clean.state)
    expect(await checkInvariants(env.db, { effects: [env.out.effects] })).toEqual([])
  })
})
