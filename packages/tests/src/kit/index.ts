/**
 * @module @ledgerflow/tests/kit
 *
 * The ledgerflow testing kit: a test engine on a fresh migrated database (a SQLite file, or a schema of its own on
 * PostgreSQL), a manual clock, recording tools with scriptable outcomes, named crash points, and `checkInvariants`,
 * which checks SPEC §13 against the database.
 *
 * ### Examples
 * ```ts
 * import { createTestEngine, recordingTool, checkInvariants } from '@ledgerflow/tests/kit'
 *
 * const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
 * await using env = await createTestEngine({ tools: [email.tool] })
 * await env.engine.deployWorkflow({ id: 'wf', title: 'Replies', code })
 * env.crashAt({ point: 'mutation:after-call' })              // die right after the email went out
 * await expect(env.engine.runSession('wf')).rejects.toThrow('simulated crash')
 * await env.restart()
 * await env.engine.recover({ force: true })                  // reconciles: applied, never sent twice
 * expect(email.effects.entries()).toHaveLength(1)
 * expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
 * ```
 */
export { ManualClock } from './manual-clock.js'
export { createTestEngine, type TestEngine, type TestEngineOptions, type TestBackend, type CrashMatch } from './test-engine.js'
export {
  recordingTool,
  memoryEffectLog,
  type RecordingTool,
  type RecordingToolOptions,
  type ToolOutcome,
  type ReconcileOutcome,
  type CallInfo,
  type EffectLog,
  type RecordedCall,
} from './recording-tool.js'
export { fileEffectLog, readEffectFile, type FileEffectLog } from './effect-log.js'
export { EventRecorder } from './event-recorder.js'
export { checkInvariants, assertInvariants, type Violation, type InvariantOptions, type ToolEffects } from './check-invariants.js'
export { copyDatabaseImage, type ImageOptions } from './power-loss.js'
export { ledgerSnapshot, checkLedgerUnchanged, type LedgerSnapshot, type AppliedRow } from './ledger-snapshot.js'
export { SimulatedCrash, CRASH_POINTS, type CrashPoint, type CrashSite } from '@ledgerflow/agent'
