import { mkdtempSync, rmSync, appendFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createTestEngine, fileEffectLog, readEffectFile, recordingTool } from './index.js'

const CODE = `const workflow = {
  topics: { items: {} },
  producers: { gen: { schedule: { interval: "1h" }, publishes: ["items"], handler: async () => {
    await Topics.publish({ topic: "items", event: { messageId: "m0" } })
    return { n: 1 } } } },
  consumers: { send: { subscribe: ["items"],
    prepare: async () => { const [e] = await Topics.peek({ topic: "items", limit: 1 }); return e ? { reservations: [{ topic: "items", ids: [e.messageId] }], data: { id: e.messageId } } : { reservations: [] } },
    mutate: async (p) => { await Out.send({ id: p.data.id }) },
    next: async (p, r) => ({ seen: r }) } },
};`

const dir = mkdtempSync(join(tmpdir(), 'ledgerflow-kit-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('recordingTool', () => {
  it('asks decide for the outcome once the scripted queue is empty, with the idempotency key', async () => {
    const seen: Array<string | undefined> = []
    const out = recordingTool({
      namespace: 'Out',
      name: 'send',
      kind: 'mutation',
      decide: (call) => {
        seen.push(call.idempotencyKey)
        return { ok: { decided: call.index } }
      },
    })
    await using env = await createTestEngine({ tools: [out.tool] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: CODE })
    await env.engine.runSession('wf')
    expect(seen).toEqual(['lf-mut_1'])
    expect(await env.db.handlerState.get('wf', 'send')).toMatchObject({ state: JSON.stringify({ seen: { status: 'applied', result: { decided: 0 } } }) })
  })

  it('applies the effect and never answers with apply-then-never: the timeout is a network error, reconcile finds it applied', async () => {
    const out = recordingTool({ namespace: 'Out', name: 'send', kind: 'mutation', outcomes: ['apply-then-never'], timeoutMs: 50 })
    await using env = await createTestEngine({ tools: [out.tool] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: CODE })
    await env.engine.runSession('wf')
    expect(out.calls.map((c) => c.outcome)).toEqual(['applied-then-never'])
    expect(out.reconciles).toBe(1)
    expect(out.effects.entries()).toHaveLength(1)
    expect(await env.db.mutations.listByWorkflow('wf')).toEqual([expect.objectContaining({ status: 'applied' })])
  })

  it('answers reconcile as scripted: unknown answers park the mutation as indeterminate', async () => {
    const out = recordingTool({ namespace: 'Out', name: 'send', kind: 'mutation', outcomes: [{ applyThenError: 'network' }], reconcileAnswer: () => 'unknown' })
    await using env = await createTestEngine({ tools: [out.tool], config: { reconcileAttempts: 1 } })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: CODE })
    await env.engine.runSession('wf')
    expect(await env.db.mutations.listByWorkflow('wf')).toEqual([expect.objectContaining({ status: 'indeterminate' })])
  })

  it('calls onEffect right after the effect is applied, before the tool returns', async () => {
    const order: string[] = []
    const out = recordingTool({ namespace: 'Out', name: 'send', kind: 'mutation', onEffect: (key) => order.push(`effect ${key}`) })
    await using env = await createTestEngine({ tools: [out.tool], onCrashPoint: (site) => order.push(site.point) })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: CODE })
    await env.engine.runSession('wf')
    const at = order.indexOf('effect lf-mut_1')
    expect(order.slice(at - 1, at + 2)).toEqual(['mutation:after-in-flight', 'effect lf-mut_1', 'mutation:after-call'])
  })
})

describe('fileEffectLog', () => {
  it('keeps every applied effect across reopening, as a new process would see it', () => {
    const path = join(dir, 'reopen.jsonl')
    const first = fileEffectLog(path)
    first.apply('k1', { to: 'a' })
    first.apply('k2', null)
    first.apply('k1', { to: 'a' })
    first.close()
    using again = fileEffectLog(path)
    expect(again.count('k1')).toBe(2)
    expect(again.entries()).toEqual([
      { key: 'k1', count: 2, input: { to: 'a' } },
      { key: 'k2', count: 1, input: null },
    ])
  })

  it('ignores a torn last line that never reached the disk whole', () => {
    const path = join(dir, 'torn.jsonl')
    using log = fileEffectLog(path)
    log.apply('whole', 1)
    appendFileSync(path, '{"key":"half","inp')
    expect(readEffectFile(path)).toEqual([{ key: 'whole', input: 1 }])
  })
})
