/**
 * @module @ledgerflow/agent
 *
 * The ledgerflow engine: tools and the phase gate, the handler state machine with its mutation ledger, sessions,
 * the failure policy, recovery, operator actions, the scheduler and worker, and the `createEngine` facade.
 *
 * ### Examples
 * ```ts
 * import { openDatabase } from '@ledgerflow/db'
 * import { createEngine, defineTool, NetworkError } from '@ledgerflow/agent'
 * import { z } from 'zod'
 *
 * const send = defineTool({
 *   namespace: 'Email', name: 'send', kind: 'mutation', description: 'Sends an email.',
 *   input: z.object({ to: z.string(), body: z.string() }),
 *   async execute(input, ctx) { return mailer.send(input, { idempotencyKey: ctx.idempotencyKey }) },
 * })
 * const db = await openDatabase({ sqlite: 'ledgerflow.db' })
 * const engine = createEngine({ db, tools: [send] })
 * await engine.deployWorkflow({ id: 'inbox', title: 'Inbox', code })
 * console.log(await engine.runSession('inbox'))
 * ```
 */
export { createEngine, type Engine, type EngineOptions } from './engine.js'
export { defineTool, toolUsage, type Tool, type ToolDefinition, type ToolContext, type ToolPhase, type ReconcileResult } from './tools/define-tool.js'
export { createToolRegistry, type ToolRegistry } from './tools/registry.js'
export * from './tools/builtin/index.js'
export { checkOperation, type EvalPhase, type Operation, type HandlerAccess, type GateDecision } from './tools/phase-gate.js'
export * from './errors.js'
export { systemClock, type Clock } from './clock.js'
export { defaultIds, sequentialIds, type IdGenerator, type IdKind } from './ids.js'
export { EngineEmitter, type EngineEventMap, type EngineEventName, type EngineListener } from './events.js'
export { attachDebugLogger, debugEnabled, debugNamespace, formatDebugLine, type DebugLoggerOptions } from './debug.js'
export { CRASH_POINTS, SimulatedCrash, type CrashPoint, type CrashSite, type FaultHook } from './faults.js'
export { DEFAULT_CONFIG, type EngineConfig, type RetryPolicy } from './config.js'
export { createEngineContext, parseHandlerConfig, type EngineContext, type LoadedScript } from './context.js'
export { handlerConfigSchema, prepareResultSchema, type HandlerConfig, type PrepareResult } from './schemas.js'
export { executeHandler, type HandlerResult } from './handler/execute-handler.js'
export * as transitions from './handler/transitions.js'
export { failurePolicy, backoffDelay, type FailureOutcome, type Stage } from './handler/policy.js'
export {
  executeWorkflowSession,
  executeWorkflowSessionIfIdle,
  canStartSession,
  getSessionCost,
  continueSession,
} from './session/run-session.js'
export { resumeIncompleteSessions, defaultWorkerId, type RecoverOptions, type RecoveryReport } from './session/recover.js'
export { pickConsumer, exhaustedBudget, type Budget, type BudgetUse } from './session/pick-consumer.js'
export type { SessionOptions, SessionResult } from './session/session-result.js'
export { deployWorkflow, type DeployOptions, type DeployResult } from './deploy/deploy-workflow.js'
export {
  pauseWorkflow,
  resumeWorkflow,
  retryWorkflow,
  runNow,
  resolveMutation,
  requeueEvent,
  publishEvent,
  type Resolution,
  type ResolutionResult,
  type ExternalEvent,
} from './operator/operator-actions.js'
export { findWork, shuffled, type FindWorkOptions, type WorkItem, type WorkPlan } from './scheduler/find-work.js'
export { nextRunAfter, scheduleOf, type ScheduleSpec } from './scheduler/schedule-math.js'
export { Worker, type WorkerOptions, type WorkerState } from './worker/worker.js'
