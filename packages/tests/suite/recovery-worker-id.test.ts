/**
 * A worker restarted with the same configured `workerId` (a fixed name per machine or pod) must still recover the
 * sessions its previous process left open: they carry its own id, yet nobody drives them any more.
 */
import { createEngine } from '@ledgerflow/agent'
import { describe, expect, it } from 'vitest'
import { SimulatedCrash, checkInvariants, createTestEngine, recordingTool } from '../src/kit/index.js'
import { GOOD } from './bad-input.helpers.js'

async function crashedUnder(workerId: string) {
  const out = recordingTool({ namespace: 'Out', name: 'send', kind: 'mutation' })
  const env = await createTestEngine({ tools: [out.tool] })
  const engine = (options: { crash?: boolean } = {}) =>
    createEngine({
      db: env.db,
      tools: [out.tool],
      clock: env.clock,
      workerId,
      ...(options.crash
        ? {
            faults: (site) => {
              if (site.point === 'mutation:after-in-flight') throw new SimulatedCrash(site)
            },
          }
        : {}),
    })
  const first = engine({ crash: true })
  await first.deployWorkflow({ id: 'wf', title: 'Same id', code: GOOD })
  await expect(first.runSession('wf')).rejects.toThrow('simulated crash')
  await first.close()
  return { env, out, restarted: engine() }
}

describe('recovery under a fixed worker id', () => {
  it('takes over, at start-up, the sessions its previous process left open under the same id', async () => {
    const { env, out, restarted } = await crashedUnder('worker-a')
    await using _ = env

    const report = await restarted.recover({ force: true })

    expect(report.resumed).toHaveLength(1)
    expect(await env.db.sessions.listOpen()).toEqual([])
    for (let i = 0; i < 10; i++) {
      const [run] = await env.db.runs.listUnfinished('wf')
      if (!run && !(await env.db.events.countByStatus('wf')).pending) break
      if (run?.retry_at) await env.clock.advanceTo(run.retry_at)
      await restarted.runSession('wf', { trigger: run ? 'retry' : 'event' })
    }
    expect((await env.db.events.listByWorkflow('wf')).map((e) => e.status)).toEqual(['consumed', 'consumed'])
    expect(out.effects.entries()).toHaveLength(2)
    expect(await checkInvariants(env.db, { effects: [out] })).toEqual([])
    await restarted.close()
  })

  it('takes them over without force once their lease has expired', async () => {
    const { env, restarted } = await crashedUnder('worker-b')
    await using _ = env

    expect((await restarted.recover()).resumed).toHaveLength(0)
    await env.clock.advance(61_000)
    expect((await restarted.recover()).resumed).toHaveLength(1)
    expect(await env.db.sessions.listOpen()).toEqual([])
    await restarted.close()
  })
})
