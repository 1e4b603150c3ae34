/**
 * The never-used instances an `InstancePool` keeps ready for one memory limit, refilled off the critical path. Spent
 * instances handed back are turned into new ones on their zeroed memory (see `renewInstance`: a new WebAssembly
 * instance, the memory object reused), or with `recycle` reset in place (see `recycleInstance`); otherwise the pool
 * creates instances. A used instance never goes back to the pool as it is. The preloads and script images are in
 * `instance-pool.ts`, which extends this class.
 */
import type { Preloaded } from './evaluation.js'
import { type InstanceImage, takenImage } from './instance-image.js'
import type { InstancePoolOptions } from './instance-pool.js'
import { poolStats } from './pool-stats.js'
import { disposeInstance, dropInstance, prepareInstance, type PreparedInstance } from './quickjs-instance.js'
import { recycleInstance, renewInstance, reusable } from './renew-instance.js'

/**
 * At most this many spent instances are kept beyond the pool's size for evaluations in flight. Each holds a 2 MiB
 * memory, of which what its evaluation wrote is resident (about 0.3 MiB for a typical handler) until it is renewed.
 */
export const MAX_SPENT_IN_FLIGHT = 16

/** The never-used instances of an {@link InstancePool}: its base class (see the module comment). @internal */
export abstract class InstanceSupply {
  protected readonly idle: PreparedInstance[] = []
  /** Spent instances handed back, waiting to be renewed or reset (at most `size`). */
  private readonly returned: PreparedInstance[] = []
  /** This thread's image, once it has one (recycling writes it). */
  protected image: InstanceImage | undefined
  private filling: Promise<void> | undefined
  private scheduled = false
  protected closed = false
  protected readonly busy: () => boolean
  private readonly whenIdle: (() => Promise<void>) | undefined
  private readonly inFlight: () => number
  /** The most evaluations seen in flight at once when one ended (at most {@link MAX_SPENT_IN_FLIGHT}). */
  private peakInFlight = 0
  protected readonly recycle: boolean
  /** An instance with a script already loaded (at `at`, `performance.now()`), for the next evaluation with the same key. */
  protected preloaded: { key: string; value: Preloaded; at: number } | undefined

  constructor(
    readonly memoryLimitBytes: number,
    readonly size: number,
    options: InstancePoolOptions = {},
  ) {
    this.busy = options.busy ?? (() => false)
    this.whenIdle = options.whenIdle
    this.inFlight = options.inFlight ?? (() => 0)
    this.recycle = options.recycle ?? false
  }

  /** Number of instances ready now. */
  get available(): number {
    return this.idle.length
  }

  /** Instances held ready, a preloaded one included: the pool keeps `size` of them, so its memories circulate. */
  private get ready(): number {
    return this.idle.length + (this.preloaded === undefined ? 0 : 1)
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
   * With none ready, a spent instance handed back, renewed now (see `renewInstance`): on the critical path, but a
   * renewal costs a fraction of a new instance, whose new memory also leaves garbage behind. An evaluation takes it
   * when evaluations overlap (a thread serving several sessions), so the pool, which refills only while none runs,
   * stays empty. `undefined` when there is none to renew.
   */
  async takeRenewed(memoryLimitBytes: number): Promise<PreparedInstance | undefined> {
    if (memoryLimitBytes !== this.memoryLimitBytes || this.recycle || this.closed) return undefined
    this.image ??= await takenImage()
    return this.renewOne()
  }

  /**
   * Takes back an instance whose evaluation has finished (the caller gives up every reference to it). If the pool has
   * room it is renewed (or reset, with `recycle`) off the critical path when it qualifies; otherwise it is dropped.
   * The room is `size` plus the most evaluations seen in flight at once (at most {@link MAX_SPENT_IN_FLIGHT}): with 8
   * sessions on one thread, keeping only `size` dropped about one memory in six while the others still ran, and
   * their successors then found no spent memory to renew and created instances on new memories (page faults, and a
   * garbage collection for external memory pressure about every 90 ms). The peak, not the current count, so that
   * the memories outlive a lull between two waves of evaluations.
   */
  giveBack(instance: PreparedInstance): void {
    instance.binding = undefined
    this.peakInFlight = Math.max(this.peakInFlight, Math.min(this.inFlight(), MAX_SPENT_IN_FLIGHT))
    const room = this.size + this.peakInFlight
    if (this.closed || instance.memoryLimitBytes !== this.memoryLimitBytes || this.ready + this.returned.length >= room) {
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
    if (this.size === 0 || this.closed || this.scheduled || this.filling !== undefined || this.ready >= this.size) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      if (this.closed || this.busy() || this.filling !== undefined || this.ready >= this.size) return
      this.filling = this.addOne().then((added) => {
        this.filling = undefined
        // After a failure the pool stays short until the next evaluation asks again (no retry loop).
        if (!added) return
        this.added()
        this.refillSoon()
      })
    }).unref()
  }

  /** Called after the refill added an instance (a subclass may want one for work it put off). */
  protected added(): void {}

  /** Stops refilling and disposes the idle instances. */
  async close(): Promise<void> {
    this.closed = true
    await this.filling
    const preloaded = this.preloaded
    this.preloaded = undefined
    if (preloaded !== undefined) dropInstance(preloaded.value.instance)
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
  protected recycleOne(): PreparedInstance | undefined {
    const spent = this.image === undefined ? undefined : this.nextReusable(this.image)
    const recycled = spent === undefined ? undefined : recycleInstance(spent, this.image!)
    if (recycled !== undefined) poolStats.recycled++
    return recycled
  }

  /** A new instance on the memory of the latest handed-back instance that qualifies; `undefined` when none. */
  protected async renewOne(): Promise<PreparedInstance | undefined> {
    const spent = this.image === undefined ? undefined : this.nextReusable(this.image)
    const renewed = spent === undefined ? undefined : await renewInstance(spent, this.image!).catch(() => undefined)
    if (renewed !== undefined) poolStats.renewed++
    return renewed
  }

  /** Resolves after a turn of the event loop in which no evaluation is running (or when `options.whenIdle` says so). */
  private async idleTurn(): Promise<void> {
    do await (this.whenIdle ? this.whenIdle() : new Promise<void>((resolve) => setImmediate(resolve)))
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
