import type { Session } from '@ledgerflow/db'
import type { EngineContext } from '../context.js'

/** Sessions each engine is driving right now (by context): recovery never takes these over, whatever their owner. */
const driving = new WeakMap<EngineContext, Set<string>>()

/** True while this engine drives the session (its {@link LeaseKeeper} runs). */
export function isDriving(ctx: EngineContext, sessionId: string): boolean {
  return driving.get(ctx)?.has(sessionId) ?? false
}

/**
 * Keeps a session's lease alive while the session runs: renews it between runs once half of it is used, and in the
 * background every third of its length (long evaluations). A renewal that fails means another worker took the
 * session over: `lost` turns true and the session stops without writing.
 */
export class LeaseKeeper {
  lost = false
  #expiresAt: number
  readonly #controller = new AbortController()

  constructor(
    private readonly ctx: EngineContext,
    private readonly session: Session,
  ) {
    this.#expiresAt = session.lease_expires_at ?? 0
  }

  /** Renews when due; returns false once the lease is lost. */
  async check(): Promise<boolean> {
    if (this.lost) return false
    const now = this.ctx.clock.now()
    if (this.#expiresAt - now > this.ctx.config.leaseMs / 2) return true
    const until = now + this.ctx.config.leaseMs
    const ok = await this.ctx.db.sessions.renewLease(this.session.id, this.ctx.config.workerId, until)
    if (!ok) this.lost = true
    else this.#expiresAt = until
    return ok
  }

  /** Starts background renewal. */
  start(): void {
    const mine = driving.get(this.ctx) ?? new Set<string>()
    driving.set(this.ctx, mine.add(this.session.id))
    const signal = this.#controller.signal
    const interval = Math.max(1, Math.floor(this.ctx.config.leaseMs / 3))
    void (async () => {
      while (!signal.aborted && !this.lost) {
        try {
          await this.ctx.clock.sleep(interval, signal)
          await this.check()
        } catch {
          return
        }
      }
    })()
  }

  stop(): void {
    this.#controller.abort()
    driving.get(this.ctx)?.delete(this.session.id)
  }
}
