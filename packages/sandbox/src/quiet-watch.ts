/**
 * When a thread is quiet: nothing in flight for a while and its event loop mostly idle. A runner with sandbox threads
 * keeps a pool on the calling thread too (`SandboxRunnerOptions.callerPool`), and that pool may only spend the
 * calling thread's time when the process is idle, never between the steps of a busy process's work.
 */

/** How long nothing may start or end, in ms, before the thread counts as quiet. */
export const QUIET_MS = 1

/** The largest share of that time the event loop may have been running callbacks (a database commit, say). */
export const QUIET_MAX_UTILIZATION = 0.5

/**
 * Pure; whether a window in which `activity` things started or ended and the event loop was `utilization` busy
 * was quiet, with `inFlight` evaluations running at its end. @internal
 */
export function wasQuiet(window: { activity: number; utilization: number; inFlight: number }): boolean {
  return window.activity === 0 && window.inFlight === 0 && window.utilization <= QUIET_MAX_UTILIZATION
}

/** How busy the event loop was since a mark: the share of the time since then spent running callbacks. */
export interface LoopMeter {
  mark(): unknown
  utilizationSince(mark: unknown): number
}

/** Node's own measure of the event loop (`performance.eventLoopUtilization`). */
const eventLoopMeter: LoopMeter = {
  mark: () => performance.eventLoopUtilization(),
  utilizationSince: (mark) => performance.eventLoopUtilization(mark as ReturnType<typeof performance.eventLoopUtilization>).utilization,
}

/**
 * Watches the evaluations of a runner (`touch` at each start and end) and calls `onQuiet` once the calling thread
 * has been quiet for {@link QUIET_MS}: no evaluation started or ended, none is in flight, and the event loop spent at
 * most half of that time in callbacks. Its timer never keeps the process alive. @internal
 */
export class QuietWatch {
  #quiet = false
  #activity = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #closed = false
  #waiters: Array<() => void> = []

  readonly #inFlight: () => number
  readonly #onQuiet: () => void
  readonly #loop: LoopMeter

  constructor(options: { inFlight: () => number; onQuiet: () => void; loop?: LoopMeter }) {
    this.#inFlight = options.inFlight
    this.#onQuiet = options.onQuiet
    this.#loop = options.loop ?? eventLoopMeter
    this.#arm()
  }

  /** Whether the thread is quiet now (see the class comment); false again from the next `touch`. */
  get quiet(): boolean {
    return this.#quiet
  }

  /** Resolves once the thread is quiet (at once if it is now), or when the watch is closed. */
  whenQuiet(): Promise<void> {
    if (this.#quiet || this.#closed) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /**
   * An evaluation started (`'start'`) or ended: not quiet until a whole window passes without another. The window's
   * timer starts at an end (nothing is quiet while an evaluation runs).
   */
  touch(what?: 'start'): void {
    this.#quiet = false
    this.#activity++
    if (what !== 'start') this.#arm()
  }

  close(): void {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#wake()
  }

  #wake(): void {
    for (const resolve of this.#waiters.splice(0)) resolve()
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#closed) return
    const activity = this.#activity
    const since = this.#loop.mark()
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      const inFlight = this.#inFlight()
      // While an evaluation runs nothing is armed: its end touches, and the window starts then.
      if (inFlight > 0) return
      const window = { activity: this.#activity - activity, utilization: this.#loop.utilizationSince(since), inFlight }
      if (!wasQuiet(window)) return this.#arm()
      this.#quiet = true
      this.#wake()
      this.#onQuiet()
    }, QUIET_MS)
    // Never keeps the process alive (fake timers in tests may return a plain id).
    if (typeof this.#timer === 'object') this.#timer.unref()
  }
}
