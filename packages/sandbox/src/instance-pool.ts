/**
 * A small pool of prepared, never-used instances for one memory limit, refilled off the critical path.
 * Instances are never returned to the pool after use.
 */
import { disposeInstance, prepareInstance, type PreparedInstance } from './quickjs-instance.js'

/** Options of {@link InstancePool}. */
export interface InstancePoolOptions {
  /**
   * While this returns true the pool does not start creating an instance (it checks again when `refillSoon` is
   * called): a worker thread passes "an evaluation is running", so creation never delays a running evaluation.
   */
  busy?: () => boolean
}

/** Pre-created instances of one memory limit. */
export class InstancePool {
  private readonly idle: PreparedInstance[] = []
  private filling: Promise<void> | undefined
  private scheduled = false
  private closed = false
  private readonly busy: () => boolean

  constructor(
    readonly memoryLimitBytes: number,
    readonly size: number,
    options: InstancePoolOptions = {},
  ) {
    this.busy = options.busy ?? (() => false)
    this.refillSoon()
  }

  /** Number of instances ready now. */
  get available(): number {
    return this.idle.length
  }

  /** A prepared instance for `memoryLimitBytes`, or `undefined` when none is ready. */
  take(memoryLimitBytes: number): PreparedInstance | undefined {
    if (memoryLimitBytes !== this.memoryLimitBytes) return undefined
    return this.idle.pop()
  }

  /**
   * Schedules a refill after the current I/O phase (`setImmediate`), so it never delays the caller. The refill
   * creates one instance per turn of the event loop, so work that arrives meanwhile waits for one creation at most.
   */
  refillSoon(): void {
    if (this.size === 0 || this.closed || this.scheduled || this.filling !== undefined || this.idle.length >= this.size) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      if (this.closed || this.busy() || this.filling !== undefined || this.idle.length >= this.size) return
      this.filling = this.addOne().then((added) => {
        this.filling = undefined
        // After a failure the pool stays short until the next evaluation asks again (no retry loop).
        if (added) this.refillSoon()
      })
    }).unref()
  }

  /** Stops refilling and disposes the idle instances. */
  async close(): Promise<void> {
    this.closed = true
    await this.filling
    for (const instance of this.idle.splice(0)) disposeInstance(instance)
  }

  /** Resolves after a turn of the event loop in which no evaluation is running. */
  private async idleTurn(): Promise<void> {
    do await new Promise<void>((resolve) => setImmediate(resolve))
    while (this.busy() && !this.closed)
  }

  /** Creates one instance; false when that failed (evaluations then prepare their own, which reports the fault). */
  private async addOne(): Promise<boolean> {
    try {
      // Between the steps of a creation, work that arrived meanwhile runs first: an evaluation that started in the
      // meantime finishes before the creation goes on.
      const instance = await prepareInstance(this.memoryLimitBytes, () => this.idleTurn())
      if (this.closed) disposeInstance(instance)
      else this.idle.push(instance)
      return true
    } catch {
      return false
    }
  }
}
