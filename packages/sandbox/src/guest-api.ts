/**
 * The guest side of an evaluation, as the prelude's `install` returns it: `run`, `describe` and `explain`.
 */
import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core'
import { limitError } from './errors.js'
import type { GlobalEntries } from './evaluation-plan.js'
import type { SandboxErrorData } from './types.js'

/** Handles of the prelude functions one evaluation uses. */
export interface GuestApi {
  /** `run(workflow, group, name, method, argsJson)`: calls the handler and settles its result. */
  run: QuickJSHandle
  /** `describe(workflow)`: settles a JSON description of the workflow object (validation). */
  describe: QuickJSHandle
  /** `explain(thrown)`: returns a JSON description of a thrown value. */
  explain: QuickJSHandle
}

/** Runs a guest call; `undefined` when it could not run (the evaluation then already failed). */
export type EnterGuest = <T>(enter: () => T) => T | undefined

/**
 * Defines the tool namespaces and `console` in the fresh context (before the user's script runs) and returns the
 * guest API, or the reason it failed (a namespace colliding with a built-in global, for example).
 */
export function installGuestApi(
  context: QuickJSContext,
  install: QuickJSHandle,
  options: { globals: GlobalEntries; maxConsoleChars: number; enter: EnterGuest },
): GuestApi | SandboxErrorData | undefined {
  const spec = context.newString(JSON.stringify(options.globals))
  const maxChars = context.newNumber(options.maxConsoleChars)
  const result = options.enter(() => context.callFunction(install, context.undefined, spec, maxChars))
  spec.dispose()
  maxChars.dispose()
  if (result === undefined) return undefined
  if (result.error !== undefined) {
    const detail = context.dump(result.error) as { message?: unknown } | undefined
    result.error.dispose()
    return limitError('sandbox_internal', `Installing the tools failed: ${String(detail?.message ?? detail)}`)
  }
  return result.value.consume((api) => ({
    run: context.getProp(api, 'run'),
    describe: context.getProp(api, 'describe'),
    explain: context.getProp(api, 'explain'),
  }))
}

/** Pure; tells the guest API apart from a failure. */
export function isGuestApi(value: GuestApi | SandboxErrorData | undefined): value is GuestApi {
  return value !== undefined && 'run' in value
}
