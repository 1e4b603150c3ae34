/**
 * Several worker PROCESSES on one PostgreSQL schema (SPEC §11): 4 workers (`createEngine` + `engine.start()`, worker
 * ids of their own, 3 s leases) work through 50 workflows × 40 events while one of them is SIGKILLed mid-run and
 * started again. Every event is consumed exactly once, no mutation reaches the outside world twice, no two sessions of
 * a workflow overlap in time, and the SPEC §13 invariants hold. The outside world is a table in a schema of its own,
 * keyed by idempotency key; the tool's `reconcile` reads it.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { type Engine, createEngine } from '@ledgerflow/agent'
import { type LedgerflowDb, openDatabase } from '@ledgerflow/db'
import { type Kysely, sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type EffectLog, checkInvariants } from '../src/kit/index.js'
import { POSTGRES_SKIP_MESSAGE, POSTGRES_URL } from './backends.js'

const WORKER = fileURLToPath(new URL('./children/pg-worker.mjs', import.meta.url))
const WORKFLOWS = 50
const EVENTS_BEFORE = 25
const EVENTS_DURING = 15
const TOTAL = WORKFLOWS * (EVENTS_BEFORE + EVENTS_DURING)
const LEASE_MS = 3_000
/** How long Ext.apply takes after its effect is written; the victim's is long, so the kill lands inside a call. */
const APPLY_DELAY_MS = 10
const VICTIM_APPLY_DELAY_MS = 1_000
/** Jobs one consumer run takes (and applies with its one mutation). */
const BATCH = 4
/**
 * Timestamps come from each worker's clock. All workers here share one host clock, so no skew is allowed; workers on
 * several machines would need their largest clock skew here.
 */
const CLOCK_SKEW_MS = 0

/** A consumer that takes up to BATCH jobs per run and applies them with one mutation. */
const CODE = `const workflow = {
  topics: { jobs: {} },
  consumers: {
    apply: {
      subscribe: ["jobs"],
      prepare: async () => {
        const jobs = await Topics.peek({ topic: "jobs", limit: ${BATCH} })
        if (jobs.length === 0) return { reservations: [] }
        const ids = jobs.map((e) => e.messageId)
        return { reservations: [{ topic: "jobs", ids }], data: { ids } }
      },
      mutate: async (p) => { await Ext.apply({ messageIds: p.data.ids }) },
      next: async (p, r) => ({ last: p.data.ids[p.data.ids.length - 1], status: r.status }),
    },
  },
}`

interface EffectRow {
  idempotency_key: string
  workflow_id: string
  /** JSON array of the message ids this effect applied. */
  message_ids: string
  worker_id: string
  applied: number
}

interface WorkerMessage {
  type: 'ready' | 'recovered' | 'error'
  workerId: string
  sessionId?: string
  previousOwner?: string | null
  error?: string
}

/** A worker process and what it told us. */
interface WorkerHandle {
  id: string
  child: ChildProcess
  ready: Promise<void>
  exited: Promise<number | null>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `probe` every 100 ms until it returns true; fails after `timeoutMs`. */
async function until(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(100)
  }
}

/** The effects table as the invariant checker's effect log (read-only: the workers apply). */
function effectLog(rows: EffectRow[]): EffectLog {
  const byKey = new Map(rows.map((r) => [r.idempotency_key, r]))
  return {
    apply: () => {
      throw new Error('read-only effect log')
    },
    count: (key) => Number(byKey.get(key)?.applied ?? 0),
    entries: () => rows.map((r) => ({ key: r.idempotency_key, count: Number(r.applied), input: { messageIds: JSON.parse(r.message_ids) } })),
  }
}

describe('four worker processes on one PostgreSQL schema, one killed mid-run', () => {
  const url = POSTGRES_URL
  if (url === undefined) {
    it.skip(POSTGRES_SKIP_MESSAGE, () => {})
    return
  }
  const schema = `lf_test_${randomBytes(6).toString('hex')}`
  const effectsSchema = `${schema}_outside`
  const workers = new Map<string, WorkerHandle>()
  const messages: WorkerMessage[] = []
  let db: LedgerflowDb
  let outside: LedgerflowDb
  let engine: Engine

  function startWorker(id: string, applyDelayMs = APPLY_DELAY_MS): WorkerHandle {
    const child = fork(WORKER, [url!, schema, effectsSchema, id, String(LEASE_MS), String(applyDelayMs)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    let markReady!: () => void
    const ready = new Promise<void>((resolve) => (markReady = resolve))
    child.on('message', (m: WorkerMessage) => {
      messages.push(m)
      if (m.type === 'ready') markReady()
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const handle = { id, child, ready, exited }
    workers.set(id, handle)
    return handle
  }

  beforeAll(async () => {
    db = await openDatabase({ postgres: url, schema, poolSize: 4 })
    outside = await openDatabase({ postgres: url, schema: effectsSchema, poolSize: 2, migrate: false })
    await outside.kysely.schema
      .createTable('effects')
      .addColumn('idempotency_key', 'text', (c) => c.primaryKey())
      .addColumn('workflow_id', 'text', (c) => c.notNull())
      .addColumn('message_ids', 'text', (c) => c.notNull())
      .addColumn('worker_id', 'text', (c) => c.notNull())
      .addColumn('applied', 'integer', (c) => c.notNull())
      .execute()
    engine = createEngine({ db, workerId: 'test-parent' })
  })

  afterAll(async () => {
    for (const w of workers.values()) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL')
    await Promise.all([...workers.values()].map((w) => w.exited))
    await engine?.close()
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db.kysely)
    await sql`drop schema if exists ${sql.id(effectsSchema)} cascade`.execute(db.kysely)
    await Promise.all([db?.close(), outside?.close()])
  })

  /** Publishes jobs `from`..`from + count - 1` to every workflow, one batch per workflow (workers poll for them). */
  async function publish(from: number, count: number): Promise<void> {
    for (let w = 0; w < WORKFLOWS; w++) {
      const jobs = Array.from({ length: count }, (_, k) => from + k).map((i) => ({
        id: `evt-${w}-${i}`,
        topic: 'jobs',
        messageId: `job-${i}`,
        title: `Job ${i}`,
        payload: JSON.stringify({ i }),
        createdByRunId: null,
      }))
      await db.events.publish(`wf-${w}`, jobs, Date.now())
    }
  }

  const consumed = async () => Number((await db.kysely.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'consumed').executeTakeFirst())?.n ?? 0)
  const effects = () => (outside.kysely as unknown as Kysely<{ effects: EffectRow }>).selectFrom('effects').selectAll().execute()

  it('consumes every event once, applies every mutation once and never overlaps two sessions of a workflow', { timeout: 300_000 }, async () => {
    for (let w = 0; w < WORKFLOWS; w++) await engine.deployWorkflow({ id: `wf-${w}`, title: `Jobs ${w}`, code: CODE })
    await publish(0, EVENTS_BEFORE)
    for (let i = 1; i <= 4; i++) startWorker(`pgw-${i}`, i === 2 ? VICTIM_APPLY_DELAY_MS : APPLY_DELAY_MS)
    await Promise.all([...workers.values()].map((w) => w.ready))

    // Kill worker 2 while all four are busy (a quarter of the jobs done) and it is inside a mutation call (its ledger
    // row committed in_flight, the effect written, the answer not yet back); start it again at once under a new id.
    const inFlight = () =>
      db.kysely
        .selectFrom('mutations as m')
        .innerJoin('handler_runs as r', 'r.id', 'm.handler_run_id')
        .innerJoin('script_runs as s', 's.id', 'r.script_run_id')
        .select(['m.id', 'm.idempotency_key'])
        .where('m.status', '=', 'in_flight')
        .where('s.owner', '=', 'pgw-2')
        .execute()
    // Its effect written: the row is committed in_flight before the call starts, and the call writes the effect a
    // round trip later. A kill in between is a call that never reached the outside world (checked below too).
    const written = async (keys: string[]) => new Set((await effects()).map((e) => e.idempotency_key).filter((k) => keys.includes(k)))
    const effectInFlight = async () => {
      const rows = await inFlight()
      return (await written(rows.map((m) => m.idempotency_key))).size > 0
    }
    await until(async () => (await consumed()) >= TOTAL / 4 && (await effectInFlight()), 120_000, 'a quarter of the jobs')
    const victim = workers.get('pgw-2')!
    victim.child.kill('SIGKILL')
    expect(await victim.exited).toBeNull()
    const interruptedRows = await inFlight()
    const reached = await written(interruptedRows.map((m) => m.idempotency_key))
    const interrupted = interruptedRows.filter((m) => reached.has(m.idempotency_key)).map((m) => m.id)
    const neverSent = interruptedRows.filter((m) => !reached.has(m.idempotency_key)).map((m) => m.id)
    expect(interrupted.length).toBeGreaterThan(0)
    const orphaned = (await db.sessions.listOpen()).filter((s) => s.owner === 'pgw-2').map((s) => s.id)
    await startWorker('pgw-2-restarted').ready

    // More work arrives while the survivors take over the victim's sessions.
    await publish(EVENTS_BEFORE, EVENTS_DURING)
    await until(async () => (await consumed()) === TOTAL && (await db.sessions.listOpen()).length === 0, 240_000, 'every job consumed and every session closed')
    for (const w of workers.values()) if (w !== victim) w.child.send('stop')
    const codes = await Promise.all([...workers.values()].filter((w) => w !== victim).map((w) => w.exited))
    expect(codes).toEqual([0, 0, 0, 0])

    // The victim's open sessions were taken over by the other workers once their leases expired.
    const recovered = messages.filter((m) => m.type === 'recovered')
    expect(orphaned.length).toBeGreaterThan(0)
    expect(new Set(recovered.filter((m) => m.previousOwner === 'pgw-2').map((m) => m.sessionId))).toEqual(new Set(orphaned))
    for (const m of recovered) expect(m.workerId).not.toBe('pgw-2')

    // Each call the kill interrupted after its effect was written was reconciled from the outside table (found
    // applied), never sent again; a call killed before it wrote anything was found not applied.
    for (const id of interrupted) {
      const ledger = (await db.mutations.get(id))!
      expect(ledger.status).toBe('applied')
      const lines = await db.logs.list(ledger.handler_run_id)
      expect(lines.map((l) => l.message)).toContain('reconcile Ext.apply: applied')
    }
    for (const id of neverSent) {
      const ledger = (await db.mutations.get(id))!
      expect(ledger.status).not.toBe('applied')
      const lines = await db.logs.list(ledger.handler_run_id)
      expect(lines.map((l) => l.message)).toContain('reconcile Ext.apply: not_applied')
    }

    // Every event consumed exactly once, by a committed run whose applied mutation went out exactly once, for it.
    const rows = await effects()
    const events = await db.kysely
      .selectFrom('events')
      .innerJoin('handler_runs as r', 'r.id', 'events.reserved_by_run_id')
      .innerJoin('mutations as m', 'm.handler_run_id', 'r.id')
      .select(['events.workflow_id', 'events.message_id', 'events.status', 'r.status as runStatus', 'm.status as ledger', 'm.idempotency_key'])
      .execute()
    expect(events).toHaveLength(TOTAL)
    const byKey = new Map(rows.map((r) => [r.idempotency_key, r]))
    for (const e of events) {
      expect(e).toMatchObject({ status: 'consumed', runStatus: 'committed', ledger: 'applied' })
      const effect = byKey.get(e.idempotency_key)
      expect(effect).toMatchObject({ workflow_id: e.workflow_id, applied: 1 })
      expect(JSON.parse(effect!.message_ids)).toContain(e.message_id)
    }
    expect(rows.filter((r) => r.applied !== 1)).toEqual([])
    const perMessage = new Map<string, number>()
    for (const r of rows) {
      for (const id of JSON.parse(r.message_ids) as string[]) perMessage.set(`${r.workflow_id}/${id}`, (perMessage.get(`${r.workflow_id}/${id}`) ?? 0) + 1)
    }
    expect([...perMessage.values()].filter((n) => n !== 1)).toEqual([])
    expect(perMessage.size).toBe(TOTAL)
    expect(new Set(rows.map((r) => r.worker_id)).size).toBeGreaterThanOrEqual(4)

    // No two sessions of one workflow overlap, and no two of its runs either (a worker that lost its lease and kept
    // going would show as two runs at once): each starts after the previous one ended.
    const overlaps: string[] = []
    const check = (rows: Array<{ workflow_id: string; id: string; start_timestamp: number; end_timestamp: number | null }>, what: string) => {
      for (let i = 1; i < rows.length; i++) {
        const [a, b] = [rows[i - 1]!, rows[i]!]
        if (a.workflow_id !== b.workflow_id) continue
        if (a.end_timestamp === null) overlaps.push(`${what} ${a.id} never ended`)
        else if (b.start_timestamp + CLOCK_SKEW_MS < a.end_timestamp) overlaps.push(`${what} ${a.id} ends ${a.end_timestamp}, ${b.id} starts ${b.start_timestamp}`)
      }
    }
    const columns = ['workflow_id', 'id', 'start_timestamp', 'end_timestamp'] as const
    check(await db.kysely.selectFrom('script_runs').select(columns).orderBy('workflow_id').orderBy('start_timestamp').orderBy('id').execute(), 'session')
    check(await db.kysely.selectFrom('handler_runs').select(columns).orderBy('workflow_id').orderBy('start_timestamp').orderBy('id').execute(), 'run')
    expect(overlaps).toEqual([])

    expect(await checkInvariants(db, { effects: [{ tool: 'Ext.apply', effects: effectLog(rows) }] })).toEqual([])
    expect(messages.filter((m) => m.type === 'error')).toEqual([])
  })
})
