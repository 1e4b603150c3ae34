import { randomBytes } from 'node:crypto'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { DbError, type LedgerflowDb, NotADatabaseError, openDatabase } from './index.js'
import { tempDir } from './test-helpers/backends.js'
import { seedWorkflow } from './test-helpers/seed.js'

describe('openDatabase (sqlite)', () => {
  let dir: ReturnType<typeof tempDir>
  const opened: LedgerflowDb[] = []
  const open = async (options: { name?: string; synchronous?: 'FULL' | 'NORMAL'; image?: Buffer } = {}) => {
    const { name = 'ledgerflow.db', ...rest } = options
    const db = await openDatabase({ sqlite: join(dir.dir, name), ...rest })
    opened.push(db)
    return db
  }
  afterEach(async () => {
    for (const db of opened.splice(0)) await db.close()
    dir?.cleanup()
  })

  it.each([
    ['random bytes', () => randomBytes(8192)],
    ['a text file', () => 'name,amount\nalice,3\n'.repeat(200)],
    ['a short text file', () => 'hello\n'],
  ])('throws NotADatabaseError for %s and leaves the file as it was', async (_kind, content) => {
    dir = tempDir()
    const file = join(dir.dir, 'not-a-db')
    const bytes = content()
    writeFileSync(file, bytes)
    const error = await openDatabase({ sqlite: file }).then(
      (db) => {
        opened.push(db)
        return undefined
      },
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(NotADatabaseError)
    expect(DbError.isInstance(error)).toBe(true)
    expect(error).toMatchObject({ code: 'not_a_database', file })
    expect((error as Error).message).toContain(file)
    expect(readFileSync(file)).toEqual(Buffer.from(bytes))
    expect(readdirSync(dir.dir)).toEqual(['not-a-db'])
  })

  it('creates and migrates a missing file, with WAL, foreign keys and synchronous FULL', async () => {
    dir = tempDir()
    const db = await open()
    expect(db.dialect).toBe('sqlite')
    const native = db.native!
    expect(native.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(native.pragma('foreign_keys', { simple: true })).toBe(1)
    // 2 = FULL, 1 = NORMAL.
    expect(native.pragma('synchronous', { simple: true })).toBe(2)
    expect(Number(native.pragma('busy_timeout', { simple: true }))).toBeGreaterThan(0)
  })

  it('uses synchronous NORMAL when asked', async () => {
    dir = tempDir()
    const db = await open({ synchronous: 'NORMAL' })
    expect(db.native!.pragma('synchronous', { simple: true })).toBe(1)
  })

  it('keeps the data of a file across close and reopen', async () => {
    dir = tempDir()
    const first = await open()
    await seedWorkflow(first)
    await first.close()
    opened.splice(0)
    const second = await open()
    expect((await second.workflows.get('wf-1'))?.status).toBe('active')
  })

  it('opens a serialized image as an independent copy', async () => {
    dir = tempDir()
    const template = await open()
    await seedWorkflow(template)
    const copy = await open({ name: 'copy.db', image: template.serialize() })
    await copy.workflows.setTitle('wf-1', 'only in the copy', 1)
    expect((await copy.workflows.get('wf-1'))?.title).toBe('only in the copy')
    expect((await template.workflows.get('wf-1'))?.title).toBe('Workflow wf-1')
  })
})
