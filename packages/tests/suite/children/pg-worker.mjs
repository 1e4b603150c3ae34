// A worker process of the PostgreSQL multi-process test: `createEngine` + `engine.start()` on a shared schema with a
// worker id of its own and short leases. Its one mutation tool, Ext.apply, writes each effect to a table OUTSIDE the
// engine's schema, keyed by the ledger's idempotency key (a second apply of a key increments `applied`, so a
// duplicate would show), and reconcile looks the key up there. Reports engine events the parent checks over IPC;
// on "stop" it stops gracefully and exits 0.
import { createEngine, defineTool } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { z } from 'zod'

const [url, schema, effectsSchema, workerId, leaseMs, applyDelayMs] = process.argv.slice(2)
const db = await openDatabase({ postgres: url, schema, poolSize: 5, migrate: false })
const outside = await openDatabase({ postgres: url, schema: effectsSchema, poolSize: 2, migrate: false })
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const apply = defineTool({
  namespace: 'Ext',
  name: 'apply',
  kind: 'mutation',
  description: 'Applies jobs to the outside world (a table outside the engine schema), idempotently by key.',
  input: z.object({ messageIds: z.array(z.string()) }),
  async execute(input, ctx) {
    await outside.kysely
      .insertInto('effects')
      .values({ idempotency_key: ctx.idempotencyKey, workflow_id: ctx.workflowId, message_ids: JSON.stringify(input.messageIds), worker_id: workerId, applied: 1 })
      .onConflict((oc) => oc.column('idempotency_key').doUpdateSet((eb) => ({ applied: eb('effects.applied', '+', 1) })))
      .execute()
    // The outside system has done it; a SIGKILL in this window leaves the ledger row in_flight for reconcile.
    await sleep(Number(applyDelayMs))
    return { key: ctx.idempotencyKey }
  },
  async reconcile(_input, ctx) {
    const row = await outside.kysely.selectFrom('effects').select('idempotency_key').where('idempotency_key', '=', ctx.idempotencyKey).executeTakeFirst()
    return row ? { status: 'applied', result: { key: ctx.idempotencyKey } } : { status: 'not_applied' }
  },
})

const engine = createEngine({
  db,
  tools: [apply],
  workerId,
  config: { leaseMs: Number(leaseMs) },
  worker: { concurrency: 8, recoveryIntervalMs: 500, idleCheckMs: 200 },
})
engine.on('session:recovered', (e) => process.send({ type: 'recovered', workerId, sessionId: e.sessionId, previousOwner: e.previousOwner }))
engine.on('worker:error', (e) => process.send({ type: 'error', workerId, error: String(e.error?.message ?? e.error) }))
// The parent is gone (its test was killed or timed out): die too rather than keep working on its schema.
process.on('disconnect', () => process.exit(1))
process.on('message', async (message) => {
  if (message !== 'stop') return
  await engine.stop()
  await engine.close()
  await Promise.all([db.close(), outside.close()])
  process.exit(0)
})
await engine.start()
process.send({ type: 'ready', workerId })
