/**
 * A small pool of prepared, never-used instances for one memory limit, refilled off the critical path.
 * Instances are never returned to the pool after use.
 */
import { disposeInstance, prepareInstance, type PreparedInstance } from './quickjs-instance.js'

/** Pre-created instances of one memory limit. */
export class InstancePool {
  private readonly idle: PreparedInstance[] = []
  private filling: Promise<void> | undefined
  private scheduled = false
  private closed = false

  constructor(
    readonly memoryLimitBytes: number,
    readonly size: number,
  ) {
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

  /** Schedules a refill after the current I/O phase (`setImmediate`), so it never delays the caller. */
  refillSoon(): void {
    if (this.size === 0 || this.closed || this.scheduled || this.filling !== undefined || this.idle.length >= this.size) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.filling ??= this.fill().finally(() => {
        this.filling = undefined
      })
    }).unref()
  }

  /** Stops refilling and disposes the idle instances. */
  async close(): Promise<void> {
    this.closed = true
    await this.filling
    for (const instance of this.idle.splice(0)) disposeInstance(instance)
  }

  private async fill(): Promise<void> {
    try {
      while (!this.closed && this.idle.length < this.size) {
        const instance = await prepareInstance(this.memoryLimitBytes)
        if (this.closed) {
          disposeInstance(instance)
          return
        }
        this.idle.push(instance)
      }
    } catch {
      // A failed refill leaves the pool short; evaluations then prepare their own instance, which reports the fault.
    }
  }
}
