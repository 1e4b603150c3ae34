/**
 * The CHECK on every enum column (SPEC §3: enum columns hold lowercase strings): each documented value is
 * accepted, an undocumented or uppercase one is refused by the database itself.
 */
import { expect, it } from 'vitest'
import type { LedgerflowDb } from './index.js'
import { expectViolation } from './test-helpers/assertions.js'
import { defineStoreSuite } from './test-helpers/backends.js'
import {
  NOW,
  type SeededWorkflow,
  TOPIC,
  mutationRow,
  runRow,
  runState,
  seedRun,
  seedSession,
  seedWorkflow,
  sessionRow,
  sessionState,
  workflowRow,
} from './test-helpers/seed.js'

interface Ctx extends SeededWorkflow {
  db: LedgerflowDb
  sessionId: string
}

interface EnumCase {
  column: string
  valid: readonly string[]
  invalid: readonly string[]
  /** Inserts a row that is valid except, maybe, for `value`. `i` keeps keys unique. */
  insert(ctx: Ctx, value: string, i: number): Promise<unknown>
  /** Removes what `insert` added, for columns whose valid rows would collide (one open session or run). */
  reset?(ctx: Ctx): Promise<unknown>
  /** Whether the refusal names this column's own CHECK (false when another CHECK may fire first). */
  ownCheck?: boolean
}

const CONSUMER_PHASES = ['pending', 'preparing', 'prepared', 'mutating', 'mutated', 'emitting', 'committed']
const PRODUCER_PHASES = ['pending', 'executing', 'committed']
const ERROR_TYPES = ['auth', 'permission', 'network', 'logic', 'internal', 'indeterminate']

const v = (value: string) => value as never

const insertRun = (c: Ctx, id: string, over: Parameters<typeof runRow>[2]) =>
  c.db.kysely.insertInto('handler_runs').values(runRow(c, id, { ordinal: 100, ...over })).execute()

const CASES: EnumCase[] = [
  {
    column: 'workflows.status',
    valid: ['draft', 'active', 'paused', 'error', 'archived'],
    invalid: ['running', 'ACTIVE'],
    insert: (c, value, i) => c.db.workflows.insert(workflowRow(`enum-wf-${i}`, { status: v(value) })),
  },
  {
    column: 'workflows.error_type',
    valid: ERROR_TYPES,
    invalid: ['timeout', 'AUTH'],
    insert: (c, value, i) =>
      c.db.workflows.insert(workflowRow(`enum-wf-${i}`, { status: 'error', error: 'boom', error_type: v(value) })),
  },
  {
    column: 'script_runs.trigger',
    valid: ['schedule', 'manual', 'event', 'retry'],
    invalid: ['cron', 'MANUAL'],
    insert: (c, value, i) =>
      c.db.kysely
        .insertInto('script_runs')
        .values(sessionRow(c, `enum-s-${i}`, { trigger: v(value), ...sessionState('completed') }))
        .execute(),
  },
  {
    column: 'script_runs.status',
    valid: ['running', 'completed', 'failed', 'suspended'],
    invalid: ['open', 'COMPLETED'],
    insert: (c, value, i) =>
      c.db.kysely
        .insertInto('script_runs')
        .values(sessionRow(c, `enum-s-${i}`, { ...sessionState(v(value)), status: v(value) }))
        .execute(),
    reset: (c) => c.db.kysely.deleteFrom('script_runs').where('id', 'like', 'enum-s-%').execute(),
  },
  {
    column: 'script_runs.budget_exhausted',
    valid: ['iterations', 'cost', 'time'],
    invalid: ['money', 'COST'],
    insert: (c, value, i) =>
      c.db.kysely
        .insertInto('script_runs')
        .values(sessionRow(c, `enum-s-${i}`, { ...sessionState('completed'), budget_exhausted: v(value) }))
        .execute(),
  },
  {
    column: 'script_runs.error_type',
    valid: ERROR_TYPES,
    invalid: ['oops', 'LOGIC'],
    insert: (c, value, i) =>
      c.db.kysely
        .insertInto('script_runs')
        .values(sessionRow(c, `enum-s-${i}`, { ...sessionState('failed'), error: 'x', error_type: v(value) }))
        .execute(),
  },
  {
    column: 'handler_runs.handler_type',
    valid: ['producer', 'consumer'],
    invalid: ['worker', 'PRODUCER'],
    // `pending` fits both types; an unknown type also fails the phase-fits-type CHECK, either may be reported.
    ownCheck: false,
    insert: (c, value, i) => insertRun(c, `enum-r-${i}`, { handler_type: v(value), ordinal: 100 + i, ...runState('failed', 'pending') }),
  },
  {
    column: 'handler_runs.phase (consumer)',
    valid: CONSUMER_PHASES,
    invalid: ['executing', 'flying', 'PREPARING'],
    ownCheck: false,
    insert: (c, value, i) =>
      insertRun(c, `enum-r-${i}`, { ordinal: 100 + i, ...runState(value === 'committed' ? 'committed' : 'failed', v(value)) }),
  },
  {
    column: 'handler_runs.phase (producer)',
    valid: PRODUCER_PHASES,
    invalid: ['preparing', 'prepared', 'mutating', 'mutated', 'emitting', 'EXECUTING'],
    ownCheck: false,
    insert: (c, value, i) =>
      insertRun(c, `enum-r-${i}`, {
        handler_type: 'producer',
        handler_name: 'poll',
        ordinal: 100 + i,
        ...runState(value === 'committed' ? 'committed' : 'failed', v(value)),
      }),
  },
  {
    column: 'handler_runs.status',
    valid: ['active', 'waiting', 'paused', 'failed', 'committed'],
    invalid: ['done', 'FAILED'],
    insert: (c, value, i) => insertRun(c, `enum-r-${i}`, { ordinal: 100 + i, ...runState(v(value)) }),
    reset: (c) => c.db.kysely.deleteFrom('handler_runs').where('id', 'like', 'enum-r-%').execute(),
  },
  {
    column: 'handler_runs.error_type',
    valid: ERROR_TYPES,
    invalid: ['fatal', 'NETWORK'],
    insert: (c, value, i) =>
      insertRun(c, `enum-r-${i}`, { ordinal: 100 + i, ...runState('failed'), error: 'x', error_type: v(value) }),
  },
  {
    column: 'mutations.status',
    valid: ['pending', 'in_flight', 'applied', 'failed', 'indeterminate', 'skipped'],
    invalid: ['done', 'inflight', 'APPLIED'],
    insert: async (c, value, i) => {
      const runId = await seedRun(c.db, c, `enum-r-${i}`, { ordinal: 100 + i, ...runState('failed') })
      await c.db.mutations.insert(mutationRow({ workflowId: c.workflowId, runId }, `enum-m-${i}`, { status: v(value) }))
    },
    reset: async (c) => {
      await c.db.kysely.deleteFrom('mutations').execute()
      await c.db.kysely.deleteFrom('handler_runs').where('id', 'like', 'enum-r-%').execute()
    },
  },
  {
    column: 'mutations.error_type',
    valid: ERROR_TYPES,
    invalid: ['unknown', 'INDETERMINATE'],
    insert: async (c, value, i) => {
      const runId = await seedRun(c.db, c, `enum-r-${i}`, { ordinal: 100 + i, ...runState('failed') })
      await c.db.mutations.insert(
        mutationRow({ workflowId: c.workflowId, runId }, `enum-m-${i}`, { status: 'failed', error_type: v(value) }),
      )
    },
    reset: async (c) => {
      await c.db.kysely.deleteFrom('mutations').execute()
      await c.db.kysely.deleteFrom('handler_runs').where('id', 'like', 'enum-r-%').execute()
    },
  },
  {
    column: 'events.status',
    valid: ['pending', 'reserved', 'consumed', 'skipped', 'dead'],
    invalid: ['new', 'PENDING'],
    insert: async (c, value, i) => {
      const topic = await c.db.topics.getByName(c.workflowId, TOPIC)
      await c.db.kysely
        .insertInto('events')
        .values({
          id: `enum-e-${i}`,
          topic_id: topic!.id,
          workflow_id: c.workflowId,
          message_id: `m-${i}`,
          title: 't',
          payload: '{}',
          status: v(value),
          reserved_by_run_id: value === 'pending' ? null : 'enum-holder',
          created_by_run_id: null,
          sequence: i + 1,
          created_at: NOW,
          updated_at: NOW,
        })
        .execute()
    },
  },
  {
    column: 'run_logs.level',
    valid: ['log', 'info', 'warn', 'error'],
    invalid: ['debug', 'INFO'],
    insert: (c, value, i) =>
      c.db.kysely
        .insertInto('run_logs')
        .values({ handler_run_id: 'enum-holder', sequence: i + 1, timestamp: NOW, phase: 'preparing', level: v(value), message: 'hi' })
        .execute(),
  },
  {
    column: 'producer_schedules.kind',
    valid: ['interval', 'cron'],
    invalid: ['rrule', 'CRON'],
    insert: (c, value, i) =>
      c.db.kysely
        .insertInto('producer_schedules')
        .values({
          workflow_id: c.workflowId,
          producer_name: `p${i}`,
          kind: v(value),
          expression: '5m',
          timezone: null,
          next_run_at: NOW,
          last_run_at: null,
          updated_at: NOW,
        })
        .execute(),
  },
]

/** PostgreSQL names a column CHECK `<table>_<column>_check`; SQLite reports it by the column name. */
function ownCheckName(column: string) {
  const [table, name] = column.split(' ')[0]!.split('.') as [string, string]
  return { postgres: `${table}_${name}_check`, sqlite: `CHECK constraint failed: ${name}` }
}

defineStoreSuite('schema: enum columns', (env) => {
  async function setUp(): Promise<Ctx> {
    const { db } = env()
    const w = await seedWorkflow(db)
    // A closed session to hang runs on, and a finished run to hold reservations and logs.
    const sessionId = await seedSession(db, w, 'enum-session', sessionState('completed'))
    await seedRun(db, { ...w, sessionId }, 'enum-holder', { ordinal: 1, ...runState('failed') })
    return { db, ...w, sessionId }
  }

  it.each(CASES)('accepts every documented value of $column', async (c) => {
    const ctx = await setUp()
    for (const [i, value] of c.valid.entries()) {
      await c.insert(ctx, value, i)
      await c.reset?.(ctx)
    }
  })

  it.each(CASES)('refuses an undocumented or uppercase value of $column', async (c) => {
    const ctx = await setUp()
    for (const [i, value] of c.invalid.entries()) {
      await expectViolation(c.insert(ctx, value, 50 + i), 'check', c.ownCheck === false ? {} : ownCheckName(c.column))
    }
  })

  it('refuses an enum value written by an UPDATE, not only by an INSERT', async () => {
    const ctx = await setUp()
    await expectViolation(
      ctx.db.kysely.updateTable('workflows').set({ status: v('running') }).where('id', '=', ctx.workflowId).execute(),
      'check',
      ownCheckName('workflows.status'),
    )
    expect((await ctx.db.workflows.get(ctx.workflowId))?.status).toBe('active')
  })
})
