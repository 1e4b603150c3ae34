/**
 * Helpers for worker and scheduler tests: a test engine with the testing kit's manual clock, and ways to wait for the
 * worker to reach a state by yielding to the event loop (never by sleeping: time only moves with the clock).
 */
import { z } from 'zod'
import type { EngineEventName } from '../events.js'
import { defineTool } from '../tools/define-tool.js'
import { type TestEngine, type TestEngineOptions, createTestEngine, recordingTool } from '../../../tests/src/kit/index.js'

export { createTestEngine, recordingTool, type TestEngine }

/** 2026-01-01T12:00:00Z, where a kit clock starts. */
export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)
export const MINUTE = 60_000

/** Yields to the event loop until `cond` holds; throws after `turns` turns (a hang in a test is a failure). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, turns = 20_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (await cond()) return
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  throw new Error(`gave up waiting for ${what}`)
}

const LOOP_EVENTS: readonly EngineEventName[] = ['scheduler:tick', 'scheduler:tick:empty']

/** Turns of the worker loop so far (every turn emits `scheduler:tick` or `scheduler:tick:empty`). */
export function loopTurns(env: TestEngine): number {
  return env.events.log.filter((e) => LOOP_EVENTS.includes(e.event)).length
}

/** Sessions this engine has open now, from its events. */
export function openSessions(env: TestEngine): number {
  return env.events.count('session:start') + env.events.count('session:recovered') - env.events.count('session:end')
}

/** The largest number of sessions open at once, from the engine's events. */
export function maxOpenSessions(env: TestEngine): number {
  let open = 0
  let max = 0
  for (const e of env.events.log) {
    if (e.event === 'session:start' || e.event === 'session:recovered') max = Math.max(max, ++open)
    if (e.event === 'session:end') open--
  }
  return max
}

/**
 * Waits until the worker is idle: no session open, the last loop turn started nothing, and the loop sleeps on the
 * clock (its sleep is then the only pending timer).
 */
export async function workerIdle(env: TestEngine): Promise<void> {
  const isIdle = () => {
    const last = env.events.log.filter((e) => LOOP_EVENTS.includes(e.event)).at(-1)
    return openSessions(env) === 0 && last !== undefined && startedNothing(last) && env.clock.pendingTimers === 1
  }
  // Idle twice in a row, a few turns apart: a wake-up that was already queued gets its chance to run first.
  await until(isIdle, 'the worker to be idle')
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve))
  await until(isIdle, 'the worker to stay idle')
}

function startedNothing(e: { event: EngineEventName; payload: unknown }): boolean {
  return e.event === 'scheduler:tick:empty' || (e.payload as { started: number }).started === 0
}

/** Moves the clock to `time` and waits for the worker to settle. */
export async function advanceTo(env: TestEngine, time: number): Promise<void> {
  await env.clock.advanceTo(time)
  await workerIdle(env)
}

/** A test engine whose worker starts when asked, with settings that keep the loop quiet unless a test wants noise. */
export async function workerEnv(options: TestEngineOptions = {}): Promise<TestEngine> {
  return createTestEngine({
    ...options,
    worker: { idleCheckMs: 60 * MINUTE, recoveryIntervalMs: 24 * 60 * MINUTE, ...options.worker },
  })
}

/** A read tool whose calls wait until the test releases them, to hold sessions open. */
export function gatedTool(namespace = 'Gate', name = 'wait') {
  const waiting: Array<() => void> = []
  const tool = defineTool({
    namespace,
    name,
    kind: 'read',
    description: 'Waits until the test releases it.',
    input: z.unknown(),
    timeoutMs: 24 * 60 * MINUTE,
    execute: () => new Promise<void>((resolve) => waiting.push(resolve)),
  })
  return {
    tool,
    /** Calls waiting now. */
    get waiting() {
      return waiting.length
    },
    /** Releases the oldest waiting call. */
    releaseOne() {
      waiting.shift()?.()
    },
    /**
     * Releases every call when disposed: declare it after the engine (`using _ = gate.openOnExit()`) so a failed
     * assertion does not leave `stop()` waiting for a session held at the gate.
     */
    openOnExit(): Disposable {
      return {
        [Symbol.dispose]() {
          while (waiting.length > 0) waiting.shift()?.()
        },
      }
    },
  }
}
