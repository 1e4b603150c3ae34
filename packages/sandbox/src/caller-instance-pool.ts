/**
 * The pool a runner with sandbox threads keeps on the calling thread (`SandboxRunnerOptions.callerPool`). It learns
 * which script comes next from the evaluations the threads run, and creates and loads instances only while its
 * owner says the process is quiet (see `quiet-watch.ts`): whatever it would do while busy is put off until then.
 */
import type { EvaluationPlan } from './evaluation-plan.js'
import { InstancePool, type PutOffJob } from './instance-pool.js'

/** An {@link InstancePool} that puts its preloads and probes off while busy, until {@link CallerInstancePool.resume}. @internal */
export class CallerInstancePool extends InstancePool {
  /** The preload and the probe put off, the latest of each. */
  private readonly putOff: { preload?: PutOffJob; probe?: PutOffJob } = {}

  /**
   * An evaluation of `plan` (whose `preloadKey` is `key`) ended on another thread. The pool schedules what it would
   * after one of its own: the preload of the script's next evaluation, the probe of its image, a refill. A preload that
   * this evaluation could not take (too old, or for another script) is given back, as `claim` would.
   */
  observe(plan: EvaluationPlan, key: string): void {
    this.dropPreloadUnlessFor(plan, key)
    this.preloadSoon(plan, key)
    this.probeSoon(plan, key)
    if (!this.busy()) this.refillSoon()
  }

  /**
   * The owner says its thread is quiet now: the preload, the image probe and the refill put off are scheduled again
   * (a preload only while its script is still the one evaluated last).
   */
  resume(): void {
    this.resumePreload()
    const probe = this.putOff.probe
    this.putOff.probe = undefined
    if (probe !== undefined && !this.probing) this.scheduleProbe(probe.template, probe.key)
    this.refillSoon()
  }

  /** Kept for {@link CallerInstancePool.resume}, or for the instance the refill adds next (see `added`). */
  protected override putOffNow(job: PutOffJob): boolean {
    this.putOff[job.kind] = job
    return true
  }

  /** A preload put off for want of an instance gets the one the refill added. */
  protected override added(): void {
    this.resumePreload()
  }

  private resumePreload(): void {
    const preload = this.putOff.preload
    if (preload === undefined || preload.key !== this.lastKey || this.preloadScheduled || this.preloaded !== undefined) return
    this.putOff.preload = undefined
    this.schedulePreload(preload.template, preload.key)
  }
}
