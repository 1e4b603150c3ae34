/**
 * A small pool of prepared, never-used instances for one memory limit, refilled off the critical path. Spent
 * instances handed back are turned into new ones on their zeroed memory (see `renewInstance`: a new WebAssembly
 * instance, the memory object reused), or with `recycle` reset in place (see `recycleInstance`); otherwise the pool
 * creates instances. A used instance never goes back to the pool as it is.
 */
import { type InstanceImage, recycleInstance, renewInstance, reusable, takenImage } from './instance-image.js'
import { disposeInstance, dropInstance, prepareInstance, type PreparedInstance } from './quickjs-instance.js'

/** Counters of the pools of this thread (for tests and diagnostics). @internal */
export const poolStats = { renewed: 0, recycled: 0, notReusable: 0 }

/** Options of {@link InstancePool}. */
export interface InstancePoolOptions {
  /**
   * While this returns true the pool does not start creating an instance (it checks again when `refillSoon` is
   * called): a worker thread passes "an evaluation is running", so creation never delays a running evaluation.
   */
  busy?: () => boolean
  /** Reset used instances in place instead of creating new ones (see `SandboxRunnerOptions.recycle`). */
  recycle?: boolean
}

/** Pre-created instances of one memory limit. */
export class InstancePool {
  private readonly idle: PreparedInstance[] = []
  /** Spent instances handed back, waiting to be renewed or reset (at most `size`). */
  private readonly returned: PreparedInstance[] = []
  /** This thread's image, once it has one (recycling writes it). */
  private image: InstanceImage | undefined
  private filling: Promise<void> | undefined
  private scheduled = false
  private closed = false
  private readonly busy: () => boolean
  private readonly recycle: boolean

  constructor(
    readonly memoryLimitBytes: number,
    readonly size: number,
    options: InstancePoolOptions = {},
  ) {
    this.busy = options.busy ?? (() => false)
    this.recycle = options.recycle ?? false
    this.refillSoon()
  }

  /** Number of instances ready now. */
  get available(): number {
    return this.idle.length
  }

  /**
   * A prepared instance for `memoryLimitBytes`, or `undefined` when none is ready. With `recycle`, none ready but a
   * spent one handed back, that one is reset now (well under a millisecond, against several for a new instance).
   */
  take(memoryLimitBytes: number): PreparedInstance | undefined {
    if (memoryLimitBytes !== this.memoryLimitBytes) return undefined
    return this.idle.pop() ?? (this.recycle ? this.recycleOne() : undefined)
  }

  /**
   * Takes back an instance whose evaluation has finished (the caller gives up every reference to it). If the pool has
   * room it is renewed (or reset, with `recycle`) off the critical path when it qualifies; otherwise it is dropped.
   */
  giveBack(instance: PreparedInstance): void {
    instance.binding = undefined
    if (this.closed || instance.memoryLimitBytes !== this.memoryLimitBytes || this.idle.length + this.returned.length >= this.size) {
      dropInstance(instance)
      return
    }
    this.returned.push(instance)
    this.refillSoon()
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
    for (const instance of this.returned.splice(0)) dropInstance(instance)
  }

  /** The latest handed-back instance that qualifies for this pool's kind of reuse, dropping those that do not. */
  private nextReusable(image: InstanceImage): PreparedInstance | undefined {
    for (let spent = this.returned.pop(); spent !== undefined; spent = this.returned.pop()) {
      if (reusable(spent, image, this.recycle ? 'recycle' : 'renew')) return spent
      poolStats.notReusable++
      dropInstance(spent)
    }
    return undefined
  }

  /** Resets the latest handed-back instance that qualifies in place; `undefined` when none. */
  private recycleOne(): PreparedInstance | undefined {
    const spent = this.image === undefined ? undefined : this.nextReusable(this.image)
    const recycled = spent === undefined ? undefined : recycleInstance(spent, this.image!)
    if (recycled !== undefined) poolStats.recycled++
    return recycled
  }

  /** A new instance on the memory of the latest handed-back instance that qualifies; `undefined` when none. */
  private async renewOne(): Promise<PreparedInstance | undefined> {
    const spent = this.image === undefined ? undefined : this.nextReusable(this.image)
    const renewed = spent === undefined ? undefined : await renewInstance(spent, this.image!).catch(() => undefined)
    if (renewed !== undefined) poolStats.renewed++
    return renewed
  }

  /** Resolves after a turn of the event loop in which no evaluation is running. */
  private async idleTurn(): Promise<void> {
    do await new Promise<void>((resolve) => setImmediate(resolve))
    while (this.busy() && !this.closed)
  }

  /**
   * Adds one instance: a spent one renewed (or reset) when it qualifies, else a new one; false when creating failed
   * (evaluations then prepare their own, which reports the fault).
   */
  private async addOne(): Promise<boolean> {
    this.image ??= await takenImage()
    const reused = this.recycle ? this.recycleOne() : await this.renewOne()
    if (reused !== undefined) {
      if (this.closed) dropInstance(reused)
      else this.idle.push(reused)
      return true
    }
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
