/** Session cost stays the sum of its runs' costs, also when a run goes on spending in a later session. */
import { describe, expect, it } from 'vitest'
import { recordingTool } from '../src/kit/index.js'
import { consumer, pipelineEnv, producer, script } from './fixtures.js'

describe('session cost', () => {
  it('keeps every stored session cost equal to the sum of its runs when a retried run spends in a later session', async () => {
    const paid = recordingTool({ namespace: 'Paid', name: 'send', kind: 'mutation', cost: 700 })
    paid.script({ error: 'network' }) // not applied: retried in a new run, after a backoff
    await using env = await pipelineEnv({ tools: [paid.tool] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: script({ producers: [producer('gen', { count: 1 })], consumers: [consumer('send', { tool: 'Paid.send' })] }) })
    const first = await env.engine.runSession('wf')
    expect(first.status).toBe('suspended')
    const [waiting] = await env.db.runs.listUnfinished('wf')
    await env.clock.advanceTo(waiting!.retry_at!)
    const second = await env.engine.runSession('wf', { trigger: 'retry' })
    expect(second.status).toBe('completed')
    const sessions = await env.db.sessions.listByWorkflow('wf')
    for (const s of sessions) expect(s.cost).toBe(await env.engine.sessionCost(s.id))
    const total = (await env.db.runs.listByWorkflow('wf')).reduce((sum, r) => sum + r.cost, 0)
    expect(sessions.reduce((sum, s) => sum + s.cost, 0)).toBe(total)
    expect(total).toBe(1400)
  })
})
