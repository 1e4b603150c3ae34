import type { EngineEmitter, EngineEventMap, EngineEventName } from '@ledgerflow/agent'

/** Records every engine event, for assertions and for awaiting one. */
export class EventRecorder {
  readonly log: Array<{ event: EngineEventName; payload: unknown }> = []
  readonly #waiters: Array<{ event: EngineEventName; resolve: (payload: unknown) => void }> = []
  readonly #off: () => void

  constructor(emitter: EngineEmitter) {
    this.#off = emitter.onAny((event, payload) => {
      this.log.push({ event, payload })
      for (const w of this.#waiters.filter((w) => w.event === event)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1)
        w.resolve(payload)
      }
    })
  }

  /** How many times an event was emitted. */
  count(event: EngineEventName): number {
    return this.log.filter((e) => e.event === event).length
  }

  /** Payloads of an event, in order. */
  list<K extends EngineEventName>(event: K): Array<EngineEventMap[K]> {
    return this.log.filter((e) => e.event === event).map((e) => e.payload as EngineEventMap[K])
  }

  /** Resolves with the next emission of an event. */
  awaitNext<K extends EngineEventName>(event: K): Promise<EngineEventMap[K]> {
    return new Promise((resolve) => this.#waiters.push({ event, resolve: resolve as (p: unknown) => void }))
  }

  clear(): void {
    this.log.length = 0
  }

  dispose(): void {
    this.#off()
  }
}
