import type { LogLevel, LogLine } from '@ledgerflow/db'

/** An event a phase published, waiting for the commit that writes it. */
export interface BufferedPublish {
  topic: string
  messageId: string
  title: string
  /** JSON text. */
  payload: string
}

/**
 * What one phase evaluation accumulates before its checkpoint writes it: log lines, cost and publishes. Nothing
 * here is durable until a checkpoint takes it; a phase that never checkpoints publishes nothing.
 */
export class PhaseBuffer {
  #logs: LogLine[] = []
  #cost = 0
  readonly publishes: BufferedPublish[] = []
  readonly #seen = new Set<string>()

  constructor(
    readonly phase: string,
    private readonly now: () => number,
  ) {}

  log(level: LogLevel, message: string): void {
    this.#logs.push({ timestamp: this.now(), phase: this.phase, level, message })
  }

  addCost(microdollars: number): void {
    this.#cost += microdollars
  }

  /** Buffers a publish; a messageId already buffered in this phase is ignored (first write wins). */
  publish(event: BufferedPublish): boolean {
    const key = `${event.topic}\u0000${event.messageId}`
    if (this.#seen.has(key)) return false
    this.#seen.add(key)
    this.publishes.push(event)
    return true
  }

  /** Removes and returns the buffered log lines (a checkpoint writes them). */
  takeLogs(): LogLine[] {
    const logs = this.#logs
    this.#logs = []
    return logs
  }

  /** Puts back logs and cost taken by a checkpoint that did not commit. */
  restore(logs: LogLine[], cost: number): void {
    this.#logs = [...logs, ...this.#logs]
    this.#cost += cost
  }

  /** Removes and returns the accumulated cost. */
  takeCost(): number {
    const cost = this.#cost
    this.#cost = 0
    return cost
  }
}
