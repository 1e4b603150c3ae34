import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase } from '@ledgerflow/db'
import { afterEach, describe, expect, it } from 'vitest'
import { createEngine } from '../../engine.js'
import { type CrashSite, SimulatedCrash } from '../../faults.js'
import { sequentialIds } from '../../ids.js'
import { createFileTools } from './file-tools.js'

const code = `
const workflow = {
  topics: { "file.found": {} },
  producers: {
    scan: {
      schedule: { interval: "1h" },
      publishes: ["file.found"],
      handler: async () => {
        for (const f of await Files.list({ dir: "in", pattern: "*.txt" })) {
          const { content } = await Files.read({ path: f.path })
          await Topics.publish({ topic: "file.found", event: { messageId: f.name, title: f.name, payload: { name: f.name, content } } })
        }
      },
    },
  },
  consumers: {
    copy: {
      subscribe: ["file.found"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "file.found", limit: 1 })
        return e ? { reservations: [{ topic: "file.found", ids: [e.messageId] }], data: e.payload } : { reservations: [] }
      },
      mutate: async (p) => { await Files.write({ path: "out/" + p.data.name, content: p.data.content.toUpperCase() }) },
    },
  },
}
`

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('Files.write inside the engine', () => {
  it('settles a write interrupted by a crash as applied through reconcile, without writing again', async () => {
    const base = mkdtempSync(join(tmpdir(), 'ledgerflow-files-engine-'))
    dirs.push(base)
    const root = join(base, 'files')
    mkdirSync(join(root, 'in'), { recursive: true })
    writeFileSync(join(root, 'in', 'a.txt'), 'hello')
    const db = await openDatabase({ sqlite: join(base, 'ledgerflow.db') })
    const ids = sequentialIds()
    let crash = true
    const faults = (site: CrashSite) => {
      if (crash && site.point === 'mutation:after-call') {
        crash = false
        throw new SimulatedCrash(site)
      }
    }
    const tools = createFileTools({ root })
    const first = createEngine({ db, tools, ids, faults, workerId: 'first' })
    await first.deployWorkflow({ id: 'copy', title: 'Copy', code })
    await expect(first.runSession('copy')).rejects.toThrow('simulated crash')
    await first.close()

    const second = createEngine({ db, tools, ids, workerId: 'second' })
    const report = await second.recover({ force: true })
    expect(report.resumed.map((r) => r.result.status)).toEqual(['completed'])
    const [ledger] = await db.mutations.listByWorkflow('copy')
    expect(ledger).toMatchObject({ status: 'applied', tool_namespace: 'Files', tool_method: 'write', ui_title: 'write out/a.txt' })
    expect(JSON.parse(ledger!.result!)).toMatchObject({ path: 'out/a.txt', bytes: 5 })
    expect(readFileSync(join(root, 'out', 'a.txt'), 'utf8')).toBe('HELLO')
    expect((await db.events.listByWorkflow('copy')).map((e) => e.status)).toEqual(['consumed'])
    await second.close()
    await db.close()
  })
})
