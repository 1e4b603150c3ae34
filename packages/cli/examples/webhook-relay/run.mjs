#!/usr/bin/env node
// Runs the webhook relay example with the programmatic API: starts a local source and sink (servers.mjs), deploys
// workflow.js on a fresh SQLite file, and runs two sessions. The first delivery's answer is lost on purpose: the
// ledger row stays in_flight, the Http tool's reconcile hook looks the idempotency key up at the sink, finds it, and
// the run continues as applied, so nothing is delivered twice.
//
//   node examples/webhook-relay/run.mjs [--dir <folder>]     (default: a temporary folder, removed afterwards)
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createEngine, createHttpTools } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { startServers } from './servers.mjs'

const here = dirname(fileURLToPath(import.meta.url))

/** Runs the example; returns the exit code (0 when every item reached the sink exactly once). */
export async function runWebhookExample({ dir, log = console.log } = {}) {
  const folder = dir ? resolve(dir) : mkdtempSync(join(tmpdir(), 'ledgerflow-relay-'))
  mkdirSync(folder, { recursive: true })
  const servers = await startServers()
  const db = await openDatabase({ sqlite: join(folder, 'ledgerflow.db') })
  const http = createHttpTools({
    baseUrl: servers.baseUrl,
    timeoutMs: 5000,
    // Settles a POST whose answer was lost: ask the sink whether it has a delivery with this key.
    async reconcile(request) {
      const response = await fetch(new URL(`sink/deliveries/${encodeURIComponent(request.idempotencyKey)}`, servers.baseUrl))
      if (response.status === 404) return { status: 'not_applied' }
      if (!response.ok) return { status: 'unknown' }
      return { status: 'applied', result: { status: 200, headers: {}, body: await response.json() } }
    },
  })
  const engine = createEngine({ db, tools: http })
  engine.on('mutation:in_flight', (e) => log(`  ledger ${e.mutationId}: in_flight (${e.tool}), recorded before the call`))
  engine.on('mutation:applied', (e) => log(`  ledger ${e.mutationId}: applied`))
  engine.on('mutation:indeterminate', (e) => log(`  ledger ${e.mutationId}: indeterminate: ${e.error}`))
  engine.on('run:end', (e) => {
    if (e.error) log(`  run ${e.runId}: ${e.status} (${e.errorType}: ${e.error})`)
  })

  let ok = true
  try {
    log(`source and sink listening on ${servers.baseUrl}`)
    servers.addItem('Order 1 paid', 'Alice paid 30 EUR')
    servers.addItem('Order 2 paid', 'Bob paid 12 EUR')
    servers.addItem('Order 3 refunded', 'Carol got 8 EUR back')
    const code = readFileSync(join(here, 'workflow.js'), 'utf8')
    const deployed = await engine.deployWorkflow({ id: 'relay', title: 'Webhook relay', code })
    log(`deployed relay v${deployed.version}`)

    log('\nsession 1: 3 items at the source; the answer to the first delivery is lost on purpose')
    servers.dropNextAnswer()
    const first = await engine.runSession('relay')
    log(`session 1: ${first.status}`)

    log('\nsession 2: 2 more items; the producer continues from its cursor')
    servers.addItem('Order 4 paid', 'Dan paid 99 EUR')
    servers.addItem('Order 5 paid', 'Eve paid 5 EUR')
    const second = await engine.runSession('relay')
    log(`session 2: ${second.status}`)

    const ledger = await db.mutations.listByWorkflow('relay')
    const applied = ledger.filter((m) => m.status === 'applied').length
    const repeated = servers.posts.length - new Set(servers.posts).size
    log(`\nsink: ${servers.posts.length} POSTs, ${servers.deliveries.size} deliveries, ${repeated} repeated keys`)
    log(`ledger: ${ledger.length} rows, ${applied} applied`)
    for (const m of ledger.reverse()) {
      const how = m.reconcile_attempts > 0 ? `settled by reconcile after: ${JSON.parse(m.error).message}` : 'answered directly'
      log(`  ${m.id}  ${m.status}  ${m.ui_title}  ${how}`)
    }
    ok = first.status === 'completed' && second.status === 'completed' && servers.deliveries.size === 5 && repeated === 0 && applied === 5
    log(ok ? 'every item was delivered exactly once' : 'UNEXPECTED: see above')
  } finally {
    await engine.close()
    await db.close()
    await servers.close()
    if (!dir) rmSync(folder, { recursive: true, force: true })
  }
  return ok ? 0 : 1
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--dir')
  process.exitCode = await runWebhookExample(at > 0 ? { dir: process.argv[at + 1] } : {})
}
