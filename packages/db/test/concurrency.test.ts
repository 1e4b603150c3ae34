/**
 * Several PROCESSES on one SQLite file (SPEC §11): concurrent read-then-write transactions never fail with
 * SQLITE_BUSY and never lose a write, event sequences stay unique and in commit order, and two processes migrating a
 * fresh file at the same moment both succeed.
 *
 * The children import the built package (`dist`); turbo builds `@ledgerflow/db` before its tests
 * (packages/db/turbo.json). This file builds nothing itself.
 */
import { type ChildProcess, type ForkOptions, fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LATEST_MIGRATION, appliedMigrations, migrations, openDatabase } from '../src/index.js'
import { tempDir } from '../src/test-helpers/backends.js'
import { runState, seedRun, seedSession, seedWorkflow, sessionState } from '../src/test-helpers/seed.js'

const here = dirname(fileURLToPath(import.meta.url))
const DIST = join(here, '..', 'dist', 'index.js')
const WRITER = join(here, 'fixtures', 'writer.mjs')
const MIGRATOR = join(here, 'fixtures', 'migrator.mjs')
const WRITE_MS = 3_000

interface WriterResult {
  committed: Array<[messageId: string, sequence: number]>
  errors: string[]
  startedAt: number
  endedAt: number
}

interface Child<T> {
  ready: Promise<void>
  done: Promise<T>
  go(): void
}

const children: ChildProcess[] = []
const FORK_OPTIONS: ForkOptions = { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }

/** The next message of `child` that satisfies `match`; rejects if the child exits first. */
function nextMessage(child: ChildProcess, match: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Record<string, unknown>) => {
      if (!match(message)) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(message)
    }
    const onExit = (code: number | null) => reject(new Error(`child exited with code ${code} while a message was awaited`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

/** Forks a fixture; `ready` resolves when it waits for `go()`, `done` with its result (rejects if it dies). */
function start<T>(script: string, args: string[]): Child<T> {
  const child = fork(script, args, { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
  children.push(child)
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  let markReady!: () => void
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  const done = new Promise<T>((resolve, reject) => {
    child.on('message', (message: { type: string } & T) => {
      if (message.type === 'ready') markReady()
      if (message.type === 'done') resolve(message)
    })
    child.on('exit', (code) => reject(new Error(`${script} exited with code ${code} before reporting:\n${stderr}`)))
  })
  return { ready, done, go: () => child.send('go') }
}

/** Starts every child, waits until all are ready, then releases them together. */
async function startTogether<T>(specs: Array<[script: string, args: string[]]>): Promise<T[]> {
  const started = specs.map(([script, args]) => start<T>(script, args))
  await Promise.all(started.map((c) => c.ready))
  for (const c of started) c.go()
  return Promise.all(started.map((c) => c.done))
}

describe('several processes on one SQLite file', () => {
  let dir: ReturnType<typeof tempDir> | undefined

  beforeAll(() => {
    if (!existsSync(DIST)) throw new Error(`${DIST} is missing: build @ledgerflow/db first (turbo runs its build before test)`)
  })

  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill()
    dir?.cleanup()
    dir = undefined
  })

  it('commits every concurrent read-then-write transaction of two processes, without SQLITE_BUSY or lost writes', async () => {
    dir = tempDir()
    const file = join(dir.dir, 'shared.db')
    const seedDb = await openDatabase({ sqlite: file })
    const w = await seedWorkflow(seedDb, 'wf')
    const sessionId = await seedSession(seedDb, w, 'session', sessionState('completed'))
    for (const [i, runId] of ['run-a', 'run-b'].entries()) await seedRun(seedDb, { ...w, sessionId }, runId, { ordinal: i + 1, ...runState('failed') })
    await seedDb.close()

    const [a, b] = await startTogether<WriterResult>([
      [WRITER, [file, 'a', 'run-a', String(WRITE_MS)]],
      [WRITER, [file, 'b', 'run-b', String(WRITE_MS)]],
    ])

    expect(a!.errors).toEqual([])
    expect(b!.errors).toEqual([])
    // Both really wrote, and at the same time.
    expect(a!.committed.length).toBeGreaterThan(0)
    expect(b!.committed.length).toBeGreaterThan(0)
    expect(Math.max(a!.startedAt, b!.startedAt)).toBeLessThan(Math.min(a!.endedAt, b!.endedAt))

    const db = await openDatabase({ sqlite: file })
    try {
      const events = db.native!.prepare('select message_id, sequence from events order by rowid').all() as Array<{ message_id: string; sequence: number }>
      const stored = new Map(events.map((e) => [e.message_id, e.sequence]))
      const reported = [...a!.committed, ...b!.committed]
      // Every reported write is in the file with the sequence it was given, and nothing else is.
      expect(stored.size).toBe(reported.length)
      for (const [messageId, sequence] of reported) expect(stored.get(messageId), messageId).toBe(sequence)
      // Sequences are unique, increase within each process, and follow commit (insertion) order.
      expect(new Set(stored.values()).size).toBe(events.length)
      for (const result of [a!, b!]) {
        const sequences = result.committed.map(([, s]) => s)
        expect(sequences).toEqual([...sequences].sort((x, y) => x - y))
      }
      const inCommitOrder = events.map((e) => e.sequence)
      expect(inCommitOrder).toEqual([...inCommitOrder].sort((x, y) => x - y))
      // Read-modify-write totals: no update was lost.
      expect((await db.runs.get('run-a'))?.cost).toBe(a!.committed.length)
      expect((await db.runs.get('run-b'))?.cost).toBe(b!.committed.length)
      expect((await db.handlerState.get('wf', 'counter'))?.state).toBe(String(reported.length))
      expect((await db.workflows.get('wf'))?.event_sequence).toBe(Math.max(...stored.values()))
    } finally {
      await db.close()
    }
  })

  it('migrates a fresh file once when two processes open it at the same moment, round after round', async () => {
    dir = tempDir()
    const migrators = [fork(MIGRATOR, [], FORK_OPTIONS), fork(MIGRATOR, [], FORK_OPTIONS)]
    children.push(...migrators)
    await Promise.all(migrators.map((child) => nextMessage(child, (m) => m.type === 'ready')))
    for (let round = 0; round < 15; round++) {
      const file = join(dir.dir, `fresh-${round}.db`)
      const answers = migrators.map((child) => nextMessage(child, (m) => m.type === 'migrated' && m.round === round))
      for (const child of migrators) child.send({ type: 'migrate', file, round })
      expect(await Promise.all(answers), `round ${round}`).toEqual([
        { type: 'migrated', round, version: LATEST_MIGRATION },
        { type: 'migrated', round, version: LATEST_MIGRATION },
      ])
      const db = await openDatabase({ sqlite: file, migrate: false })
      try {
        expect(await appliedMigrations(db.kysely)).toEqual(Object.keys(migrations).sort())
      } finally {
        await db.close()
      }
    }
    for (const child of migrators) child.send({ type: 'exit' })
  })
})
