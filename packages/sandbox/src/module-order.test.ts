import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, vi } from 'vitest'

// Some modules of this package import each other (an instance image is checked by running a plan, and plans take
// instances from pools). A class that extends one from such a cycle fails at load time if the cycle is entered at
// the wrong module; this keeps every entry point safe, whatever an importer loads first.
const here = fileURLToPath(new URL('.', import.meta.url))
const modules = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'sandbox-worker.ts')

describe('module loading order', () => {
  it('loads every module of the package when it is the first one imported', async () => {
    const failures: string[] = []
    for (const file of modules) {
      vi.resetModules()
      await import(`./${file.replace(/\.ts$/, '.js')}`).catch((error: unknown) => failures.push(`${file}: ${(error as Error).message}`))
    }
    expect(modules.length).toBeGreaterThan(30)
    expect(failures).toEqual([])
  })
})
