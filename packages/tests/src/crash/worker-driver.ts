/**
 * The worker-driven variant of a trial's process: instead of one session at a time, the engine's own `Worker`
 * (`engine.start()`, recovery at start, several sessions at once, the system clock) runs the scenario, while the
 * scripted operator watches for paused workflows. Interleavings depend on timing, so such a trial replays its kill
 * plan but not every instruction; the deterministic driver (`driveScenario`) is the default.
 */
import type { Engine } from '@ledgerflow/agent'
import type { LedgerflowDb } from '@ledgerflow/db'
import { type ScenarioSize, type ScenarioTools, workflowIds } from './scenario.js'
import { type DriveStats, nextAction, operate, scenarioDone } from './session-driver.js'

/** Options of {@link driveWithWorker}. */
export interface WorkerDriveOptions {
  engine: Engine
  db: LedgerflowDb
  size: ScenarioSize
  tools: ScenarioTools
  /** Gives up after this long, ms (default 120000). */
  timeoutMs?: number
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Starts the worker, operates paused workflows, and stops the worker once the scenario is done. */
export async function driveWithWorker(options: WorkerDriveOptions): Promise<DriveStats> {
  const { engine, db, size } = options
  const stats: DriveStats = { sessions: 0, resolved: 0, resumed: 0 }
  const off = engine.on('session:start', () => {
    stats.sessions++
  })
  const deadline = Date.now() + (options.timeoutMs ?? 120_000)
  await engine.start()
  try {
    for (;;) {
      if (await scenarioDone(db, size, Date.now())) return stats
      if (Date.now() > deadline) throw new Error('the worker did not finish the scenario in time')
      for (const id of workflowIds(size)) {
        const action = await nextAction(db, id, size, Date.now())
        if (action.kind !== 'operate') continue
        const workflow = await db.workflows.get(id)
        // Only what a person would act on: a workflow paused for them or out of retries (a paused run of an active
        // workflow is the worker's, between its checkpoints).
        if (workflow?.status !== 'paused' && workflow?.status !== 'error') continue
        const s = await operate({ ...options, clock: undefined as never }, id)
        stats.resolved += s.resolved
        stats.resumed += s.resumed
      }
      await pause(50)
    }
  } finally {
    off()
    await engine.stop()
  }
}
