/** The jobs a child process can run, by section. */
import { crashedTemplate, historyTemplate, pendingTemplate } from './lib/templates.js'
import { checkpoint, type CheckpointParams } from './sections/checkpoint.js'
import { bare, type BareParams, floor, type FloorParams } from './sections/floor.js'
import { latency, type LatencyParams } from './sections/latency.js'
import { pipeline, type PipelineParams } from './sections/pipeline.js'
import { postgres, type PostgresParams } from './sections/postgres.js'
import { recovery, type RecoveryParams } from './sections/recovery.js'
import { sandbox, type SandboxParams } from './sections/sandbox.js'
import { type HistoryParams, scalingHistory, scalingWorkflows, type WorkflowsParams } from './sections/scaling.js'

/** One unit of work, run in a fresh process. */
export type Job =
  | { kind: 'pipeline'; params: PipelineParams }
  | { kind: 'floor'; params: FloorParams }
  | { kind: 'bare'; params: BareParams }
  | { kind: 'checkpoint'; params: CheckpointParams }
  | { kind: 'sandbox'; params: SandboxParams }
  | { kind: 'history'; params: HistoryParams }
  | { kind: 'workflows'; params: WorkflowsParams }
  | { kind: 'latency'; params: LatencyParams }
  | { kind: 'recovery'; params: RecoveryParams }
  | { kind: 'postgres'; params: PostgresParams }
  | { kind: 'history-template'; params: { file: string; existing: number; events: number } }
  | { kind: 'crashed-template'; params: { file: string; workflows: number } }
  | { kind: 'pending-template'; params: { file: string; workflows: number; events: number } }

/** Runs a job; returns its figures (numbers, except templates, which return ids). */
export async function runJob(job: Job): Promise<Record<string, number | string>> {
  switch (job.kind) {
    case 'pipeline':
      return pipeline(job.params)
    case 'floor':
      return floor(job.params)
    case 'bare':
      return bare(job.params)
    case 'checkpoint':
      return checkpoint(job.params)
    case 'sandbox':
      return sandbox(job.params)
    case 'history':
      return scalingHistory(job.params)
    case 'workflows':
      return scalingWorkflows(job.params)
    case 'latency':
      return latency(job.params)
    case 'recovery':
      return recovery(job.params)
    case 'postgres':
      return postgres(job.params)
    case 'history-template': {
      const t = await historyTemplate(job.params.file, job.params)
      return { file: t.file, workflowId: t.workflowId, generateMs: t.generateMs }
    }
    case 'pending-template': {
      const t = await pendingTemplate(job.params.file, job.params)
      return { file: t.file, workflowId: t.workflowId, generateMs: t.generateMs }
    }
    case 'crashed-template': {
      const t = await crashedTemplate(job.params.file, job.params)
      return { file: t.file, workflowId: t.workflowId, generateMs: t.generateMs }
    }
  }
}
