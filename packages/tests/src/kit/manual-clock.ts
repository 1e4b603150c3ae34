import type { Clock } from '@ledgerflow/agent'

interface Timer {
  at: number
  seq: number
  resolve: () => void
}

/**
 * A clock that only moves when told: `advance(ms)` fires every sleep that falls due, in time order, letting the
 * code that wakes run (microtasks and I/O) before the next one fires. Tests skip time instead of sleeping.
 *
 * ### Examples
 * ```ts
 * const clock = new ManualClock(Date.UTC(2026, 0, 1))
 * const env = await createTestEngine({ clock })
 * await clock.advance(60_000) // a minute passes, at once
 * ```
 */
export class ManualClock implements Clock {
  #now: number
  #seq = 0
  #timers: Timer[] = []

  constructor(start = Date.UTC(2026, 0, 1, 12, 0, 0)) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  /** Number of sleeps waiting to fire. */
  get pendingTimers(): number {
    return this.#timers.length
  }

  /** The time the earliest sleep fires, if any. */
  get nextTimerAt(): number | undefined {
    return this.#timers.reduce<number | undefined>((min, t) => (min === undefined || t.at < min ? t.at : min), undefined)
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason)
      const timer: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, resolve: () => {} }
      const onAbort = () => {
        this.#timers = this.#timers.filter((t) => t !== timer)
        reject(signal!.reason)
      }
      timer.resolve = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#timers.push(timer)
    })
  }

  /** Moves time forward by `ms`, firing due sleeps in order. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.#now + ms)
  }

  /** Moves time forward to `time` (never backwards), firing due sleeps in order. */
  async advanceTo(time: number): Promise<void> {
    for (;;) {
      await settle()
      const due = this.#timers.filter((t) => t.at <= time).sort((a, b) => a.at - b.at || a.seq - b.seq)[0]
      if (!due) break
      this.#timers = this.#timers.filter((t) => t !== due)
      this.#now = Math.max(this.#now, due.at)
      due.resolve()
    }
    this.#now = Math.max(this.#now, time)
    await settle()
  }

  /** Sets the time without firing anything (for tests that only read `now`). */
  set(time: number): void {
    this.#now = time
  }
}

/** Lets pending promise callbacks and I/O callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
