/**
 * Latency: with a running worker (idle), an external `engine.publish` until the consumer run that takes the event
 * commits. Each sample waits for the worker to go idle again first, so every publish wakes it.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { distribution } from '../lib/stats.js'
import { tempDir } from '../lib/temp.js'
import { type Synchronous, consumerOnlyScript, openEnv } from '../lib/workload.js'

/** Parameters of the latency run. */
export interface LatencyParams {
  synchronous: Synchronous
  samples: number
  /** Idle pause before each publish, ms. */
  gapMs: number
}

/** Publish → commit latencies in ms. */
export async function latency(params: LatencyParams): Promise<Record<string, number>> {
  const dir = tempDir()
  const env = await openEnv(dir.file('latency.db'), {
    synchronous: params.synchronous,
    engine: { worker: { idleCheckMs: 60_000, recoveryIntervalMs: 600_000 } },
  })
  try {
    const { workflowId } = await env.engine.deployWorkflow({ title: 'latency', code: consumerOnlyScript() })
    await env.engine.start()
    let onCommit: (() => void) | undefined
    let onClose: (() => void) | undefined
    env.engine.on('run:end', (e) => e.status === 'committed' && onCommit?.())
    env.engine.on('session:end', () => onClose?.())
    const times: number[] = []
    const warmup = 5
    for (let i = 0; i < warmup + params.samples; i++) {
      await sleep(params.gapMs)
      const committed = new Promise<void>((resolve) => (onCommit = resolve))
      const closed = new Promise<void>((resolve) => (onClose = resolve))
      const start = performance.now()
      await env.engine.publish(workflowId, 'items', { messageId: `l${i}`, title: `Item ${i}`, payload: { i } })
      await committed
      const ms = performance.now() - start
      if (i >= warmup) times.push(ms)
      await closed
    }
    await env.engine.stop()
    const d = distribution(times)
    return { p50: d.p50, p90: d.p90, p99: d.p99 }
  } finally {
    await env.close()
    dir.remove()
  }
}
