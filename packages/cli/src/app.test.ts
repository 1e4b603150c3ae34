import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseGlobalOptions } from './app.js'
import { builtinTools, loadToolModule, mergeTools } from './tools.js'

describe('global options', () => {
  it('accepts a database file or a PostgreSQL URL', () => {
    expect(parseGlobalOptions({ db: 'x.db', tools: [] })).toEqual({ db: 'x.db', tools: [] })
    expect(parseGlobalOptions({ postgres: 'postgres://u@h/db' })).toEqual({ postgres: 'postgres://u@h/db' })
  })

  it('refuses both at once, and a URL that is not PostgreSQL', () => {
    expect(() => parseGlobalOptions({ db: 'x.db', postgres: 'postgres://h/db' })).toThrow('--db and --postgres cannot be used together')
    expect(() => parseGlobalOptions({ postgres: 'mysql://h/db' })).toThrow('--postgres must be a postgres:// or postgresql:// URL')
  })
})

describe('--tools modules', () => {
  it('refuses a module without a tools array, and a module that fails to load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledgerflow-tools-'))
    try {
      writeFileSync(join(dir, 'none.mjs'), 'export const helpers = []\n')
      await expect(loadToolModule('./none.mjs', dir)).rejects.toMatchObject({ code: 'tools_module_invalid' })
      await expect(loadToolModule('./missing.mjs', dir)).rejects.toMatchObject({ code: 'tools_module_failed' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('lets an extra tool replace the built-in tool of the same name', () => {
    const builtin = builtinTools({ filesRoot: '.' })
    const mine = { ...builtin.find((t) => t.id === 'Files.read')!, description: 'mine' }
    const merged = mergeTools(builtin, [mine])
    expect(merged.filter((t) => t.id === 'Files.read').map((t) => t.description)).toEqual(['mine'])
    expect(merged.map((t) => t.id).sort()).toEqual(['Files.list', 'Files.read', 'Files.write', 'Http.get', 'Http.post'])
  })
})
