/**
 * A busy worker must let the event loop turn between runs. With evaluations on the calling thread, a session's work is
 * one long chain of promise callbacks (better-sqlite3 answers synchronously); without a yield, timers (tool
 * timeouts), signal handlers (a graceful stop on SIGTERM) and deferred clean-ups (disposal of sandbox instances,
 * hence memory) wait until every session of the worker has run out of work. Real time is the point here: a timer is
 * the probe.
 */
import { createEngine } from '@ledgerflow/agent'
import { createSandboxRunner } from '@ledgerflow/sandbox'
import { describe, expect, it } from 'vitest'
import { createTestEngine } from '../src/kit/index.js'

const EVENTS = 40
const CODE = `const workflow = {
  topics: { jobs: {} },
  consumers: {
    work: {
      subscribe: ["jobs"],
      prepare: async (state) => {
        const [e] = await Topics.peek({ topic: "jobs", limit: 1 })
        return e ? { reservations: [{ topic: "jobs", ids: [e.messageId] }], data: { n: (state && state.n) || 0 } } : { reservations: [] }
      },
      next: async (p) => (p.data ? { n: p.data.n + 1 } : undefined),
    },
  },
};`

describe('a busy worker and the event loop', () => {
  it('lets a timer fire between runs while sessions still have work', { timeout: 120_000 }, async () => {
    await using env = await createTestEngine()
    const sandbox = createSandboxRunner({})
    const engine = createEngine({ db: env.db, sandboxRunner: sandbox, worker: { concurrency: 2, forceRecoveryAtStart: true } })
    for (const id of ['a', 'b']) {
      await engine.deployWorkflow({ id, title: id, code: CODE })
      for (let i = 0; i < EVENTS; i++) await engine.publish(id, 'jobs', { messageId: `j${i}` })
    }
    let committed = 0
    const done = new Promise<void>((resolve) =>
      engine.on('run:end', (e) => {
        if (e.status === 'committed' && ++committed === 2 * EVENTS) resolve()
      }),
    )
    let committedWhenTimerFired: number | undefined
    const timer = new Promise<void>((resolve) =>
      setTimeout(() => {
        committedWhenTimerFired = committed
        resolve()
      }, 20),
    )

    await engine.start()
    await done
    await timer
    await engine.stop()
    await engine.close()
    await sandbox.close()

    expect(committedWhenTimerFired).toBeLessThan(2 * EVENTS)
  })
})
