import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PACKAGE, cliJson, collect, tempDir } from './helpers.js'

function runExample(name: string, args: string[], cwd: string) {
  return collect(spawn(process.execPath, [join(PACKAGE, 'examples', name, 'run.mjs'), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] }))
}

describe('the inbox example (pnpm start)', () => {
  it('summarizes every inbox file once, and only lists duplicates when run again', async () => {
    const dir = tempDir()
    const first = await runExample('inbox', ['--dir', 'demo'], dir)
    expect(first.code).toBe(0)
    expect(first.stdout).toContain('seeded demo/files/inbox with 3 notes')
    expect(first.stdout).toContain('deployed inbox v1')
    expect(first.stdout).toContain('events:    3 published, 0 duplicates ignored')
    expect(first.stdout).toContain('mutations: 3 applied')
    expect(first.stdout).toContain('tools:     Files.list ×1, Files.read ×3, Files.write ×3')
    expect(first.stdout).toContain('outbox (demo/files/outbox/): 3 summaries')
    expect(readdirSync(join(dir, 'demo', 'files', 'outbox')).sort()).toEqual(['invoice-1042.summary.txt', 'standup.summary.txt', 'welcome.summary.txt'])

    const second = await runExample('inbox', ['--dir', 'demo'], dir)
    expect(second.code).toBe(0)
    expect(second.stdout).toContain('unchanged: inbox v1 is already active')
    expect(second.stdout).toContain('events:    0 published, 3 duplicates ignored')
    expect(second.stdout).toContain('mutations: none')
    const ledger = await cliJson<Array<{ status: string }>>(dir, '--db', join(dir, 'demo', 'ledgerflow.db'), 'mutations', 'inbox')
    expect(ledger.map((m) => m.status)).toEqual(['applied', 'applied', 'applied'])
  })
})

describe('the webhook relay example', () => {
  it('delivers every item exactly once, settling a lost answer through reconcile', async () => {
    const dir = tempDir()
    const r = await runExample('webhook-relay', ['--dir', 'relay'], dir)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('sink: 5 POSTs, 5 deliveries, 0 repeated keys')
    expect(r.stdout).toMatch(/applied +Relay "Order 1 paid" +settled by reconcile after: .*other side closed/)
    expect(r.stdout).toContain('every item was delivered exactly once')
    expect(existsSync(join(dir, 'relay', 'ledgerflow.db'))).toBe(true)
  })
})
