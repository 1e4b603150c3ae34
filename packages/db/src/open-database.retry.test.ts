/**
 * `db.transaction` re-runs its callback on a fresh transaction after a serialization failure (40001) or a deadlock
 * (40P01), a bounded number of times, and never after any other error. On PostgreSQL, a real deadlock between two
 * transactions is resolved that way: both commit.
 */
import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type CommonDatabaseOptions, DEFAULT_TRANSACTION_RETRY, type LedgerflowDb, openDatabase } from './index.js'
import { POSTGRES_SKIP_MESSAGE, POSTGRES_URL, defineStoreSuite, openPostgresTestDb } from './test-helpers/backends.js'
import { NOW, seedWorkflow, workflowRow } from './test-helpers/seed.js'

/** An error shaped like one of pg's, with a SQLSTATE. */
function pgError(code: string): Error {
  return Object.assign(new Error(`simulated SQLSTATE ${code}`), { code })
}

/** A second handle on the same database (its own pool or connection), with its own transaction options. */
async function reopen(db: LedgerflowDb, options: CommonDatabaseOptions): Promise<LedgerflowDb> {
  if (db.dialect === 'sqlite') return openDatabase({ sqlite: db.native!.name, migrate: false, ...options })
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db.kysely)
  return openDatabase({ postgres: POSTGRES_URL!, schema: rows[0]!.schema, poolSize: 4, migrate: false, ...options })
}

/** A promise with its resolve function. */
function latch(): { promise: Promise<void>; open(): void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => (open = resolve))
  return { promise, open }
}

defineStoreSuite('db.transaction: re-runs after a transient conflict', (env) => {
  it('runs the callback again on a fresh transaction after a serialization failure and keeps only the last attempt', async () => {
    const { db } = env()
    await seedWorkflow(db, 'wf-1')
    let attempts = 0
    const result = await db.transaction(async (tx) => {
      attempts++
      await tx.workflows.insert(workflowRow(`wf-attempt-${attempts}`))
      if (attempts === 1) throw pgError('40001')
      return 'done'
    })
    expect(result).toBe('done')
    expect(attempts).toBe(2)
    expect(await db.workflows.get('wf-attempt-1')).toBeUndefined()
    expect(await db.workflows.get('wf-attempt-2')).toBeDefined()
  })

  it('gives up after the bounded number of attempts and throws the last error', async () => {
    const { db } = env()
    let attempts = 0
    const failing = db.transaction(async () => {
      attempts++
      throw pgError('40P01')
    })
    await expect(failing).rejects.toMatchObject({ code: '40P01' })
    expect(attempts).toBe(DEFAULT_TRANSACTION_RETRY.attempts)
  })

  it('runs the callback once when it fails with any other error', async () => {
    const { db } = env()
    await seedWorkflow(db, 'wf-1')
    let attempts = 0
    const duplicate = db.transaction(async (tx) => {
      attempts++
      await tx.workflows.insert(workflowRow('wf-1'))
    })
    await expect(duplicate).rejects.toThrow()
    expect(attempts).toBe(1)
  })

  it('recognises a transient error wrapped as the cause of another and reports each re-run', async () => {
    const { db } = env()
    const retried: Array<[string, number]> = []
    const other = await reopen(db, { transactionRetry: { attempts: 3 }, onTransactionRetry: (e, n) => retried.push([(e as Error).message, n]) })
    try {
      let attempts = 0
      await other.transaction(async () => {
        attempts++
        if (attempts < 3) throw new Error('wrapped', { cause: pgError('40001') })
      })
      expect(retried).toEqual([
        ['wrapped', 1],
        ['wrapped', 2],
      ])
    } finally {
      await other.close()
    }
  })
})

describe('db.transaction: a real deadlock on PostgreSQL', () => {
  const url = POSTGRES_URL
  if (url === undefined) {
    it.skip(POSTGRES_SKIP_MESSAGE, () => {})
    return
  }
  let handle: Awaited<ReturnType<typeof openPostgresTestDb>> | undefined
  beforeEach(async () => {
    handle = await openPostgresTestDb(url, 2)
  })
  afterEach(async () => {
    await handle?.dispose()
    handle = undefined
  })
  const env = () => handle!

  /**
   * Two transactions lock wf-a and wf-b in opposite orders; each waits (on its first attempt only) until the other
   * holds its first lock, so PostgreSQL must break the cycle by aborting one of them with 40P01.
   */
  async function deadlock(db: LedgerflowDb): Promise<{ attempts: number[]; results: PromiseSettledResult<void>[] }> {
    await seedWorkflow(db, 'wf-a')
    await seedWorkflow(db, 'wf-b')
    const attempts = [0, 0]
    const holding = [latch(), latch()]
    const both = Promise.all(holding.map((l) => l.promise))
    const order: Array<[string, string]> = [
      ['wf-a', 'wf-b'],
      ['wf-b', 'wf-a'],
    ]
    const results = await Promise.allSettled(
      order.map(([first, second], i) =>
        db.transaction(async (tx) => {
          attempts[i]!++
          await tx.workflows.setTitle(first, `first of ${i}`, NOW + 1)
          if (attempts[i] === 1) {
            holding[i]!.open()
            await both
          }
          await tx.workflows.setTitle(second, `second of ${i}`, NOW + 1)
        }),
      ),
    )
    return { attempts, results }
  }

  it('surfaces the deadlock as SQLSTATE 40P01 when re-runs are turned off', async () => {
    const noRetry = await reopen(env().db, { transactionRetry: { attempts: 1 } })
    try {
      const { results } = await deadlock(noRetry)
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      expect(rejected).toHaveLength(1)
      expect(rejected[0]!.reason).toMatchObject({ code: '40P01' })
    } finally {
      await noRetry.close()
    }
  })

  it('commits both transactions by re-running the one PostgreSQL aborted', async () => {
    const retried: string[] = []
    const db = await reopen(env().db, { onTransactionRetry: (e) => retried.push((e as { code: string }).code) })
    try {
      const { attempts, results } = await deadlock(db)
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled'])
      expect(retried).toEqual(['40P01'])
      expect([...attempts].sort()).toEqual([1, 2])
      // The transaction that committed last wrote both rows last: each row carries the second write of one of them.
      const titles = [(await db.workflows.get('wf-a'))!.title, (await db.workflows.get('wf-b'))!.title]
      const loser = attempts.indexOf(2)
      expect(titles).toEqual(loser === 0 ? ['first of 0', 'second of 0'] : ['second of 1', 'first of 1'])
    } finally {
      await db.close()
    }
  })
})
