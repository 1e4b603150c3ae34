#!/usr/bin/env node
/**
 * `pnpm --filter @ledgerflow/tests load -- [--workflows 1000] [--events 100000] [--batch 20] [--concurrency 4]
 * [--recovery-sessions 1000] [--skip-throughput] [--skip-recovery] [--json]`: one worker consumes every event of many
 * workflows on SQLite (default durability) and reports throughput, RSS growth after warm-up and the exactly-once
 * accounting; then a killed process leaves many open sessions and a fresh one recovers them, timed. Exits non-zero
 * on any loss, duplicate or invariant violation.
 */
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { type RecoveryLoadReport, type ThroughputReport, mb, runRecovery, runThroughput } from './run-load.js'

function int(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`expected a positive integer, got '${value}'`)
  return n
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      workflows: { type: 'string' },
      events: { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      'recovery-sessions': { type: 'string' },
      'skip-throughput': { type: 'boolean' },
      'skip-recovery': { type: 'boolean' },
      dir: { type: 'string' },
      json: { type: 'boolean' },
    },
  })
  const workflows = int(values.workflows, 1000)
  const events = int(values.events, 100_000)
  if (events % workflows !== 0) throw new Error('--events must be a multiple of --workflows')
  const log = (line: string) => console.log(`  ${line}`)
  console.log(`ledgerflow load: node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), SQLite synchronous=FULL, WAL${(globalThis as { gc?: unknown }).gc ? ', gc exposed' : ''}`)
  let failed = false
  let throughput: ThroughputReport | undefined
  let recovery: RecoveryLoadReport | undefined
  if (!values['skip-throughput']) {
    throughput = await runThroughput({
      size: { workflows, eventsPerWorkflow: events / workflows, batch: int(values.batch, 20) },
      concurrency: int(values.concurrency, 4),
      ...(values.dir ? { dir: values.dir } : {}),
      log,
    })
    const t = throughput
    console.log(
      `throughput: ${t.size.workflows} workflows, ${t.accounting.events} events in ${(t.runMs / 1000).toFixed(1)} s through one worker = ${t.eventsPerSecond.toFixed(0)} events/s ` +
        `(${t.sessions} sessions, ${t.runs} runs; deploy ${(t.deployMs / 1000).toFixed(1)} s); lost ${t.accounting.lost}, duplicates ${t.accounting.duplicates}, violations ${t.violations.length}`,
    )
    console.log(
      `memory: rss ${mb(t.rss.warmup)} after warm-up -> ${mb(t.rss.end)} at the end (growth ${mb(t.rss.growth)}, ${t.rss.growthPercent.toFixed(1)}%; peak ${mb(t.rss.peak)}); heap ${mb(t.heapUsed.warmup)} -> ${mb(t.heapUsed.end)}`,
    )
    console.log(`rss by tenth of the events: ${t.rssByTenth.map((r) => (r / 1024 / 1024).toFixed(0)).join(' ')} MiB`)
    for (const p of [...t.accounting.problems, ...t.violations].slice(0, 20)) console.log(`  PROBLEM: ${p}`)
    failed ||= t.accounting.lost > 0 || t.accounting.duplicates > 0 || t.violations.length > 0
  }
  if (!values['skip-recovery']) {
    recovery = await runRecovery({ sessions: int(values['recovery-sessions'], 1000), ...(values.dir ? { dir: values.dir } : {}), log })
    const r = recovery
    console.log(
      `recovery: ${r.openAtKill} open sessions (${r.inFlightAtKill} in_flight ledger rows) after SIGKILL recovered in ${(r.recoveryMs / 1000).toFixed(2)} s ` +
        `(${(r.recoveryMs / Math.max(1, r.resumed)).toFixed(1)} ms per session); resumed ${r.resumed}, open after ${r.openAfter}, in_flight after ${r.inFlightAfter}, violations ${r.violations.length}`,
    )
    for (const v of r.violations.slice(0, 20)) console.log(`  PROBLEM: ${v}`)
    failed ||= r.openAfter > 0 || r.inFlightAfter > 0 || r.resumed !== r.openAtKill || r.violations.length > 0
  }
  if (values.json) console.log(JSON.stringify({ throughput, recovery }))
  return failed ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error))
    process.exit(2)
  },
)
