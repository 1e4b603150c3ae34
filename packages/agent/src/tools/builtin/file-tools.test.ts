import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createFileTools } from './file-tools.js'
import { call, pick, reconcile, toolContext } from './test-helpers/tool-context.js'

let base: string
let root: string

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'ledgerflow-files-'))
  root = join(base, 'root')
  mkdirSync(join(root, 'inbox'), { recursive: true })
  writeFileSync(join(root, 'inbox', 'b.txt'), 'bee')
  writeFileSync(join(root, 'inbox', 'a.txt'), 'ay')
  writeFileSync(join(root, 'inbox', 'notes.md'), '# notes')
  writeFileSync(join(base, 'secret.txt'), 'outside')
})
afterEach(() => rmSync(base, { recursive: true, force: true }))

const tools = () => createFileTools({ root })

describe('Files.list', () => {
  it('lists a folder sorted by name, filtered by a wildcard pattern', async () => {
    const entries = (await call(pick(tools(), 'list'), { dir: 'inbox', pattern: '*.txt' })) as Array<{ name: string; path: string; type: string; size: number }>
    expect(entries.map((e) => [e.name, e.path, e.type, e.size])).toEqual([
      ['a.txt', 'inbox/a.txt', 'file', 2],
      ['b.txt', 'inbox/b.txt', 'file', 3],
    ])
  })

  it('hides the reserved .ledgerflow folder at the root', async () => {
    mkdirSync(join(root, '.ledgerflow'))
    const entries = (await call(pick(tools(), 'list'), {})) as Array<{ name: string }>
    expect(entries.map((e) => e.name)).toEqual(['inbox'])
  })

  it('refuses a folder outside the root with a permission error', async () => {
    await expect(call(pick(tools(), 'list'), { dir: '..' })).rejects.toMatchObject({ type: 'permission', code: 'path_outside_root' })
  })
})

describe('Files.read', () => {
  it('reads a file under the root', async () => {
    expect(await call(pick(tools(), 'read'), { path: 'inbox/a.txt' })).toMatchObject({ path: 'inbox/a.txt', content: 'ay', size: 2 })
  })

  it.each([
    ['a parent path', '../secret.txt'],
    ['a nested escape', 'inbox/../../secret.txt'],
    ['an absolute path', '/etc/hostname'],
  ])('refuses %s with a permission error', async (_, path) => {
    await expect(call(pick(tools(), 'read'), { path })).rejects.toMatchObject({ type: 'permission', code: 'path_outside_root' })
  })

  it('refuses a symbolic link that leads outside the root', async () => {
    symlinkSync(join(base, 'secret.txt'), join(root, 'inbox', 'link.txt'))
    await expect(call(pick(tools(), 'read'), { path: 'inbox/link.txt' })).rejects.toMatchObject({ type: 'permission' })
  })

  it('refuses the reserved .ledgerflow folder', async () => {
    await expect(call(pick(tools(), 'read'), { path: '.ledgerflow/ledgerflow.db' })).rejects.toMatchObject({ type: 'permission', code: 'path_reserved' })
  })

  it('reports a missing file as a logic error', async () => {
    await expect(call(pick(tools(), 'read'), { path: 'inbox/none.txt' })).rejects.toMatchObject({ type: 'logic', code: 'file_not_found' })
  })
})

describe('Files.write', () => {
  it('writes atomically, creating folders, and leaves no temporary file', async () => {
    const result = await call(pick(tools(), 'write'), { path: 'outbox/a.summary.txt', content: 'hello' }, toolContext({ idempotencyKey: 'lf-mut_1' }))
    expect(result).toMatchObject({ path: 'outbox/a.summary.txt', bytes: 5 })
    expect(readFileSync(join(root, 'outbox', 'a.summary.txt'), 'utf8')).toBe('hello')
    expect(readdirSync(join(root, 'outbox'))).toEqual(['a.summary.txt'])
  })

  it('is idempotent: writing the same entry again leaves the same file', async () => {
    const write = pick(tools(), 'write')
    const ctx = toolContext({ idempotencyKey: 'lf-mut_1' })
    const first = await call(write, { path: 'out.txt', content: 'x' }, ctx)
    const second = await call(write, { path: 'out.txt', content: 'x' }, ctx)
    expect(second).toEqual(first)
    expect(readFileSync(join(root, 'out.txt'), 'utf8')).toBe('x')
  })

  it('refuses to write outside the root and writes nothing', async () => {
    await expect(call(pick(tools(), 'write'), { path: '../evil.txt', content: 'x' })).rejects.toMatchObject({ type: 'permission' })
    expect(readdirSync(base).sort()).toEqual(['root', 'secret.txt'])
  })
})

describe('Files.write reconcile', () => {
  const input = { path: 'outbox/a.txt', content: 'summary' }

  it('answers not_applied when the target is absent', async () => {
    expect(await reconcile(pick(tools(), 'write'), input, toolContext({ idempotencyKey: 'lf-mut_1' }))).toEqual({ status: 'not_applied' })
  })

  it('answers applied when the target holds the same content', async () => {
    await call(pick(tools(), 'write'), input, toolContext({ idempotencyKey: 'lf-mut_1' }))
    expect(await reconcile(pick(tools(), 'write'), input, toolContext({ idempotencyKey: 'lf-mut_1' }))).toMatchObject({
      status: 'applied',
      result: { path: 'outbox/a.txt', bytes: 7 },
    })
  })

  it('answers applied when this entry wrote the file and someone changed it since', async () => {
    await call(pick(tools(), 'write'), input, toolContext({ idempotencyKey: 'lf-mut_1' }))
    writeFileSync(join(root, 'outbox', 'a.txt'), 'edited by a person')
    expect(await reconcile(pick(tools(), 'write'), input, toolContext({ idempotencyKey: 'lf-mut_1' }))).toMatchObject({ status: 'applied' })
  })

  it('answers not_applied when the target holds other content written by another entry', async () => {
    await call(pick(tools(), 'write'), { ...input, content: 'older' }, toolContext({ idempotencyKey: 'lf-mut_0' }))
    expect(await reconcile(pick(tools(), 'write'), input, toolContext({ idempotencyKey: 'lf-mut_1' }))).toEqual({ status: 'not_applied' })
  })
})
