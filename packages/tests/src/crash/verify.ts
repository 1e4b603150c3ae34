/**
 * The campaign's checks of one trial's files. After every kill: SPEC §13 invariants that hold at any instant
 * (`quiescent: false`), the ledger against the durable effect logs, and no applied row changed since the previous
 * kill. At the end: the invariants at rest, and the accounting — every event consumed exactly once, every item sent
 * exactly once, every sent item audited exactly once, every state counter exact, nothing parked or stuck.
 */
import { join } from 'node:path'
import { type LedgerflowDb, openDatabase } from '@ledgerflow/db'
import { checkInvariants } from '../kit/check-invariants.js'
import { readEffectFile } from '../kit/effect-log.js'
import { type LedgerSnapshot, ledgerSnapshot } from '../kit/ledger-snapshot.js'
import { type EffectLog, memoryEffectLog } from '../kit/recording-tool.js'
import { EFFECT_FILES, type ScenarioSize, workflowIds } from './scenario.js'

/** What a check found. */
export interface TrialCheck {
  violations: string[]
  snapshot: LedgerSnapshot
}

/** Reads an effect-log file into memory (the parent never appends to it). */
export function loadEffects(dir: string, file: string): EffectLog {
  const log = memoryEffectLog()
  for (const line of readEffectFile(join(dir, file))) log.apply(line.key, line.input)
  return log
}

/** Checks a trial's database and effect logs; `final` adds the at-rest invariants and the scenario's accounting. */
export async function checkTrial(dir: string, size: ScenarioSize, options: { final: boolean; previous?: LedgerSnapshot; file?: string }): Promise<TrialCheck> {
  const db = await openDatabase({ sqlite: options.file ?? join(dir, 'ledgerflow.db') })
  try {
    const send = loadEffects(dir, EFFECT_FILES['Out.send'])
    const audit = loadEffects(dir, EFFECT_FILES['Audit.record'])
    const found = await checkInvariants(db, {
      quiescent: options.final,
      effects: [
        { tool: 'Out.send', effects: send },
        { tool: 'Audit.record', effects: audit },
      ],
      previous: options.previous,
    })
    const violations = found.map((v) => `invariant ${v.invariant}: ${v.message}`)
    if (options.final) violations.push(...(await accounting(db, size, send, audit)))
    return { violations, snapshot: await ledgerSnapshot(db) }
  } finally {
    await db.close()
  }
}

async function stateOf(db: LedgerflowDb, workflowId: string, handler: string): Promise<Record<string, number>> {
  const row = await db.handlerState.get(workflowId, handler)
  return row?.state ? (JSON.parse(row.state) as Record<string, number>) : {}
}

/** Exactly-once accounting of the finished scenario. */
async function accounting(db: LedgerflowDb, size: ScenarioSize, send: EffectLog, audit: EffectLog): Promise<string[]> {
  const out: string[] = []
  const notes = Math.ceil(size.items / size.batch)
  const sentBy = countBy(send, (input) => {
    const i = input as { workflow: string; ids: string[] }
    return i.ids.map((id) => `${i.workflow}/${id}`)
  })
  const auditedBy = countBy(audit, (input) => {
    const i = input as { workflow: string; id: string }
    return [`${i.workflow}/${i.id}`]
  })
  for (const workflowId of workflowIds(size)) {
    const workflow = await db.workflows.get(workflowId)
    if (workflow?.status !== 'active') out.push(`${workflowId} ends ${workflow?.status} (${workflow?.error ?? ''})`)
    const events = await db.events.listByWorkflow(workflowId)
    const byTopic = (topic: string) => events.filter((e) => e.topic === topic)
    for (const [topic, expected] of [['items', size.items], ['sent', size.items], ['notes', notes]] as const) {
      const list = byTopic(topic)
      if (list.length !== expected) out.push(`${workflowId}: ${list.length} ${topic} events, expected ${expected}`)
      for (const e of list) if (e.status !== 'consumed') out.push(`${workflowId}: event ${topic}/${e.message_id} ends ${e.status}`)
    }
    for (let i = 0; i < size.items; i++) {
      const item = `${workflowId}/item-${i}`
      if ((sentBy.get(item) ?? 0) !== 1) out.push(`${item} was sent ${sentBy.get(item) ?? 0} times`)
      if ((auditedBy.get(item) ?? 0) !== 1) out.push(`${item} was audited ${auditedBy.get(item) ?? 0} times`)
    }
    const [gen, s, x, a, t] = await Promise.all(['gen', 'send', 'express', 'audit', 'tally'].map((h) => stateOf(db, workflowId, h)))
    if (gen?.n !== size.items) out.push(`${workflowId}: producer state n=${gen?.n}, expected ${size.items}`)
    if ((s?.count ?? 0) + (x?.count ?? 0) !== size.items) out.push(`${workflowId}: send+express counted ${(s?.count ?? 0) + (x?.count ?? 0)}, expected ${size.items}`)
    if (a?.count !== size.items) out.push(`${workflowId}: audit counted ${a?.count}, expected ${size.items}`)
    if (t?.count !== notes) out.push(`${workflowId}: tally counted ${t?.count}, expected ${notes}`)
  }
  const unsettled = await db.kysely.selectFrom('mutations').select(['id', 'status']).where('status', 'in', ['pending', 'in_flight', 'indeterminate']).execute()
  for (const m of unsettled) out.push(`mutation ${m.id} ends ${m.status}`)
  return out
}

function countBy(log: EffectLog, keys: (input: unknown) => string[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const e of log.entries()) for (const k of keys(e.input)) counts.set(k, (counts.get(k) ?? 0) + e.count)
  return counts
}
