/**
 * A small pool of prepared, never-used instances for one memory limit, refilled off the critical path. Spent
 * instances handed back are turned into new ones on their zeroed memory (see `renewInstance`: a new WebAssembly
 * instance, the memory object reused), or with `recycle` reset in place (see `recycleInstance`); otherwise the pool
 * creates instances. A used instance never goes back to the pool as it is.
 *
 * Keeping the instances ready (taking, refilling, renewing what is handed back) is the pool's base class,
 * `InstanceSupply` (`instance-supply.ts`). This module adds the scheduling of what is loaded ahead for the next
 * evaluation of a script: preloads, and the probes that take script images (see `script-image.ts`).
 */
import { Evaluation, type Preloaded } from './evaluation.js'
import type { EvaluationPlan } from './evaluation-plan.js'
import { takenImage } from './instance-image.js'
import { InstanceSupply } from './instance-supply.js'
import { poolStats } from './pool-stats.js'
import { prepareInstance, type PreparedInstance } from './quickjs-instance.js'
import { type PreloadRefusal, preloadWaits, refusedAgain } from './preload-retry.js'
import { type ScriptImage, type ScriptImageRefusal, loadScriptImage, probeScriptImage } from './script-image.js'

/**
 * Guest CPU time each of a probe's two loads may spend in the top level. More than a preload's: a probe happens once
 * per script, and a busy machine must not make a cheap top level look expensive.
 */
export const PROBE_CPU_MS = 100

/** Scripts whose image (or refusal) a pool keeps; the oldest is forgotten first. */
export const SCRIPT_IMAGES_KEPT = 8

/**
 * Evaluations of a script on a thread before its image is taken: the probe costs two loads, so a script evaluated
 * once or twice (a validation, a CLI command) never pays for it.
 */
export const EVALUATIONS_BEFORE_SCRIPT_IMAGE = 3

/**
 * How long a preloaded script waits for its evaluation. Its top-level code ran that much earlier than the request
 * (a script that reads the clock at top level sees the earlier time), so an older preload is given back unused.
 */
export const PRELOAD_MAX_AGE_MS = 200

/** Options of {@link InstancePool}. */
export interface InstancePoolOptions {
  /**
   * While this returns true the pool does not start creating an instance (it checks again when `refillSoon` is
   * called): a worker thread passes "an evaluation is running", so creation never delays a running evaluation.
   */
  busy?: () => boolean
  /**
   * Evaluations running now on this pool's thread (default none). Spent instances are kept for renewal up to `size`
   * plus the most seen in flight at once: a thread that serves several sessions has that many evaluations running,
   * and each will need a memory for its successor (see {@link InstancePool.giveBack}).
   */
  inFlight?: () => number
  /** Reset used instances in place instead of creating new ones (see `SandboxRunnerOptions.recycle`). */
  recycle?: boolean
  /**
   * Load a script ahead of its next evaluation once it was evaluated twice in a row (see `SandboxRunnerOptions.preload`);
   * default true, or false when the environment sets `LEDGERFLOW_SANDBOX_PRELOAD=0` (a diagnostic for benchmarks).
   */
  preload?: boolean
  /** Clock of preload ages, in ms (default `performance.now`; tests inject one). */
  now?: () => number
  /**
   * Load scripts from script images (see `script-image.ts`) once one was preloaded; default true (with `preload`),
   * or false when the environment sets `LEDGERFLOW_SANDBOX_SCRIPT_IMAGES=0` (a diagnostic for benchmarks).
   */
  scriptImages?: boolean
  /**
   * Resolves when the pool may go on with an instance it is creating, after `busy` said no (default: the next turn of
   * the event loop in which `busy` is false). A pool gated on something that can stay true a long time passes a
   * promise of its own, so that it does not spin the event loop meanwhile.
   */
  whenIdle?: () => Promise<void>
}

/** A preload or an image probe of a script that a pool put off (see `InstancePool.putOffNow`). */
export interface PutOffJob {
  kind: 'preload' | 'probe'
  /** What the preload or probe loads: the script, its entry, tools and limits, with a host that answers nothing. */
  template: EvaluationPlan
  key: string
}

/** Pre-created instances of one memory limit. */
export class InstancePool extends InstanceSupply {
  private readonly preload: boolean
  private readonly now: () => number
  /** The key of the evaluation that ended last. */
  protected lastKey: string | undefined
  /** The key whose last preload could not be kept (a tool call or a long top level), and when to try it again. */
  private refusal: PreloadRefusal | undefined
  protected preloadScheduled = false
  private readonly scriptImagesOn: boolean
  /**
   * By preload key: a script's image, why it has none (not probed again), or how many of its evaluations ended
   * before it was probed. At most {@link SCRIPT_IMAGES_KEPT} scripts.
   */
  private readonly scriptImages = new Map<string, number | ScriptImage | ScriptImageRefusal>()
  protected probing = false
  /** Probes of a script that ended `not-preloadable`, by preload key (see {@link InstancePool.probeSoon}). */
  private readonly unpreloadable = new Map<string, number>()

  constructor(memoryLimitBytes: number, size: number, options: InstancePoolOptions = {}) {
    super(memoryLimitBytes, size, options)
    this.preload = options.preload ?? process.env.LEDGERFLOW_SANDBOX_PRELOAD !== '0'
    this.now = options.now ?? (() => performance.now())
    this.scriptImagesOn = this.preload && (options.scriptImages ?? process.env.LEDGERFLOW_SANDBOX_SCRIPT_IMAGES !== '0')
    this.refillSoon()
  }

  /**
   * The preloaded script for `plan` (whose `preloadKey` is `key`) if one is ready: its instance has run the script's top-level code and nothing
   * else (see `Evaluation.preload`). A preload for another script, other tools or other limits is given back.
   */
  claim(plan: EvaluationPlan, key: string): Preloaded | undefined {
    const ready = this.preloaded
    if (ready === undefined || !this.dropPreloadUnlessFor(plan, key)) return undefined
    this.preloaded = undefined
    poolStats.preloadsTaken++
    return ready.value
  }

  /**
   * Gives the ready preload back unless `plan` (whose `preloadKey` is `key`) could take it (see `holds`); whether one
   * is still ready.
   */
  protected dropPreloadUnlessFor(plan: EvaluationPlan, key: string): boolean {
    const ready = this.preloaded
    if (ready === undefined) return false
    if (this.holds(plan, key)) return true
    this.preloaded = undefined
    poolStats.preloadsUnused++
    this.giveBack(ready.value.instance)
    return false
  }

  /**
   * Whether {@link InstancePool.claim} would give `plan` (whose `preloadKey` is `key`) a preload now: one is ready for
   * the same script, tools and limits, and is not older than {@link PRELOAD_MAX_AGE_MS}.
   */
  holds(plan: EvaluationPlan, key: string): boolean {
    const ready = this.preloaded
    if (ready === undefined || ready.key !== key || ready.value.instance.memoryLimitBytes !== plan.limits.memoryLimitBytes) return false
    return this.now() - ready.at <= PRELOAD_MAX_AGE_MS
  }

  /**
   * Called when an evaluation of `plan` (whose `preloadKey` is `key`) has ended. When the same script was evaluated twice in a row (a consumer's
   * phases, a session's runs), its next evaluation is likely the same again: the script is loaded into a pooled
   * instance after the current I/O phase, while no evaluation runs, so that evaluation starts at its handler.
   * Evaluations that alternate between scripts never pay for a preload they would not take.
   */
  preloadSoon(plan: EvaluationPlan, key: string): void {
    if (!this.preload || this.closed) return
    const again = key === this.lastKey
    this.lastKey = key
    if (!again || this.preloadScheduled || this.preloaded !== undefined) return
    const waiting = preloadWaits(this.refusal, key)
    if (waiting !== undefined) {
      this.refusal = waiting
      return
    }
    // Only what the preload needs: the request's host, console sink and signal stay with the request.
    this.schedulePreload({ code: plan.code, entry: plan.entry, globals: plan.globals, limits: plan.limits, host: async () => undefined }, key)
  }

  /**
   * Whether `job` is put off now instead of done (because the pool is busy, or has no instance for a preload); a
   * subclass that keeps it for later says yes (see `CallerInstancePool`). Here never: a preload the pool cannot do now
   * is dropped, and a probe runs between the evaluations' turns.
   */
  protected putOffNow(_job: PutOffJob): boolean {
    return false
  }

  /** Loads `template`'s script into a pooled instance after the current I/O phase, unless the pool is busy then. */
  protected schedulePreload(template: EvaluationPlan, key: string): void {
    const job: PutOffJob = { kind: 'preload', template, key }
    if (this.busy() && this.putOffNow(job)) return
    this.preloadScheduled = true
    setImmediate(() => {
      this.preloadScheduled = false
      if (this.closed || this.preloaded !== undefined) return
      if (this.busy()) {
        this.putOffNow(job)
        return
      }
      const instance = this.take(template.limits.memoryLimitBytes)
      if (instance === undefined) {
        this.putOffNow(job)
        return
      }
      let value: Preloaded | undefined
      try {
        value = this.loadFromImage(instance, key) ?? Evaluation.preload(instance, template)
      } catch {
        // A fault of the sandbox itself (the guest's own failures are part of the preload): the instance is spent.
        value = undefined
      }
      if (value === undefined) {
        poolStats.notPreloadable++
        this.refusal = refusedAgain(this.refusal, key)
        this.giveBack(instance)
        return
      }
      poolStats.preloaded++
      this.refusal = undefined
      this.preloaded = { key, value, at: this.now() }
      this.refillSoon()
    }).unref()
  }

  /**
   * `plan`'s script loaded from its image into `instance`, a never-used instance restored from this thread's image;
   * `undefined` (the instance untouched) when the script has no image. An evaluation that found no preload ready uses
   * this before it loads the script itself.
   */
  loadFromImage(instance: PreparedInstance, key: string): Preloaded | undefined {
    const image = this.scriptImages.get(key)
    const loaded = typeof image === 'object' ? loadScriptImage(instance, image) : undefined
    if (loaded !== undefined) poolStats.scriptImageLoads++
    return loaded
  }

  /**
   * Called when an evaluation of `plan` (whose `preloadKey` is `key`) has ended. Once the script was evaluated
   * {@link EVALUATIONS_BEFORE_SCRIPT_IMAGE} times on this thread, it is loaded into two never-used instances after the
   * current I/O phase to take its image (see `probeScriptImage`); the first load becomes the preload, the second is
   * given back. Done once per script (the refusal is kept too), at the cost of two loads.
   */
  probeSoon(plan: EvaluationPlan, key: string): void {
    if (!this.scriptImagesOn || this.closed || this.probing) return
    const seen = this.scriptImages.get(key) ?? 0
    if (typeof seen !== 'number') return
    this.remember(key, seen + 1)
    // A script whose loads could not be preloaded is probed again after twice as many evaluations each time.
    if (seen + 1 < EVALUATIONS_BEFORE_SCRIPT_IMAGE * 2 ** (this.unpreloadable.get(key) ?? 0)) return
    this.scheduleProbe({ code: plan.code, entry: plan.entry, globals: plan.globals, limits: plan.limits, host: async () => undefined }, key)
  }

  /** Probes `template`'s script image after the current I/O phase (see `putOffNow`). */
  protected scheduleProbe(template: EvaluationPlan, key: string): void {
    const job: PutOffJob = { kind: 'probe', template, key }
    if (this.busy() && this.putOffNow(job)) return
    this.probing = true
    setImmediate(() => {
      if (this.busy() && this.putOffNow(job)) {
        this.probing = false
        return
      }
      this.probe(template, key)
        .catch(() => undefined)
        .finally(() => (this.probing = false))
    }).unref()
  }

  /** Takes `plan`'s script image (or its refusal) from two loads, unless the pool cannot give two restored instances. */
  private async probe(plan: EvaluationPlan, key: string): Promise<void> {
    this.image ??= await takenImage()
    const base = this.image
    if (base === undefined || this.closed) return
    const pristine = async () => {
      // Once per script, a new instance when none is to spare (a preload holds one of a small pool's).
      const instance = this.idle.pop() ?? (this.recycle ? this.recycleOne() : await this.renewOne()) ?? (await prepareInstance(this.memoryLimitBytes))
      if (instance.image === base) return instance
      this.giveBack(instance)
      return undefined
    }
    const first = await pristine().catch(() => undefined)
    const second = first === undefined ? undefined : await pristine().catch(() => undefined)
    if (first === undefined || second === undefined || this.closed) {
      // Not now (no instance to spare, or none restored from the image yet): tried again after a later evaluation.
      for (const instance of [first, second]) if (instance !== undefined) this.giveBack(instance)
      return
    }
    const probe = probeScriptImage(first, second, (instance) => Evaluation.preload(instance, plan, PROBE_CPU_MS))
    if (typeof probe.image === 'object') poolStats.scriptImages++
    else poolStats.scriptImagesRefused++
    if (probe.image === 'not-preloadable') {
      // A tool call, or a top level past the preload's CPU cap (perhaps only because the machine was busy): counted
      // again from zero, and probed after twice as many evaluations as last time.
      this.unpreloadable.set(key, Math.min((this.unpreloadable.get(key) ?? 0) + 1, 20))
      this.remember(key, 0)
    } else this.remember(key, probe.image)
    const [load] = probe.loads
    if (load !== undefined && this.preloaded === undefined && !this.closed) {
      poolStats.preloaded++
      this.preloaded = { key, value: load, at: this.now() }
    } else this.giveBack(first)
    this.giveBack(second)
  }

  /** Records what the pool knows of a script, forgetting the oldest beyond {@link SCRIPT_IMAGES_KEPT}. */
  private remember(key: string, value: number | ScriptImage | ScriptImageRefusal): void {
    this.scriptImages.delete(key)
    this.scriptImages.set(key, value)
    if (this.scriptImages.size > SCRIPT_IMAGES_KEPT) {
      const oldest = this.scriptImages.keys().next().value as string
      this.scriptImages.delete(oldest)
      this.unpreloadable.delete(oldest)
    }
  }
}
