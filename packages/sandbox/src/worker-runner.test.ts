import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { consumer, expectHealthy, failure, recordingHost, request, success } from './test-helpers/harness.js'

const runner = createSandboxRunner({ threads: 1, pool: { size: 2 }, limits: { timeoutMs: 1000 } })
afterAll(() => runner.close())

describe('createSandboxRunner with threads: the calling thread keeps the host', () => {
  it('proxies tool calls and console lines to the calling thread, in the order the guest made them', async () => {
    const recording = recordingHost()
    const code = consumer(`async prepare(n) {
      console.log("start", n);
      const a = await Email.send({ n });
      console.info("between", a.index);
      const b = await Topics.peek({ topic: "t" });
      console.warn("end", b.index);
      return [a.echo.n, b.index];
    }`)
    expect(success(await runner.evaluate(request(code, { args: [3], recording })))).toEqual([3, 1])
    expect(recording.calls.map((c) => `${c.namespace}.${c.method}#${c.index}`)).toEqual(['Email.send#0', 'Topics.peek#1'])
    expect(recording.calls[0]?.callSite).toEqual({ line: 3, column: 33 })
    expect(recording.logs).toEqual([['log', 'start 3'], ['info', 'between 0'], ['warn', 'end 1']])
  })

  it('keeps the host error as plain data with its classification, as the in-thread runner does', async () => {
    const code = consumer('async prepare() { try { await Email.fail({}) } catch (e) { return [e.name, e.message, e.code, e.type, typeof e.stack] } }')
    expect(success(await runner.evaluate(request(code)))).toEqual(['ToolError', 'mail server unavailable', 'smtp_down', 'network', 'string'])
  })

  it('turns a host value that is not JSON into an internal TypeError inside the guest', async () => {
    const recording = recordingHost({ send: async () => (() => 1) as never })
    const code = consumer('async prepare() { try { await Email.send({}) } catch (e) { return [e.name, e.type] } }')
    expect(success(await runner.evaluate(request(code, { recording })))).toEqual(['TypeError', 'internal'])
  })

  it('aborts an evaluation that waits for a host call', async () => {
    const controller = new AbortController()
    const recording = recordingHost({ send: () => new Promise(() => controller.abort()) })
    const outcome = await runner.evaluate(request(consumer('async prepare() { await Email.send({}) }'), { recording, signal: controller.signal }))
    failure(outcome, 'aborted')
    await expectHealthy(runner)
  })

  it('spreads concurrent evaluations over its threads without mixing their tool calls or globals', async () => {
    const two = createSandboxRunner({ threads: 2, pool: { size: 1 } })
    try {
      const recording = recordingHost({ send: (call) => new Promise((resolve) => setTimeout(() => resolve(call.input), 5 + (call.index % 3))) })
      const code = consumer('async prepare(n) { globalThis.mine = n; const a = await Email.send({ n }); const b = await Email.send({ n }); return [a.n, b.n, mine] }')
      const outcomes = await Promise.all(Array.from({ length: 10 }, (_, n) => two.evaluate(request(code, { args: [n], recording }))))
      expect(outcomes.map(success)).toEqual(Array.from({ length: 10 }, (_, n) => [n, n, n]))
    } finally {
      await two.close()
    }
  })

  it('fails an evaluation in flight, and every later one, with sandbox_internal once closed', async () => {
    const closing = createSandboxRunner({ threads: 1 })
    const recording = recordingHost()
    const pending = closing.evaluate(request(consumer('async prepare() { await Email.never({}) }'), { recording }))
    for (let i = 0; i < 1000 && recording.calls.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5))
    await closing.close()
    expect(failure(await pending, 'sandbox_internal').message).toMatch(/closed/)
    failure(await closing.evaluate(request(consumer('prepare() {}'))), 'sandbox_internal')
  })

  it('refuses a thread count that is not an integer from 0 to 16 with a RangeError', () => {
    expect(() => createSandboxRunner({ threads: -1 })).toThrow(RangeError)
    expect(() => createSandboxRunner({ threads: 17 })).toThrow(RangeError)
    expect(() => createSandboxRunner({ threads: 1.5 })).toThrow(RangeError)
  })

  it('never keeps the process alive: idle, closed while its thread starts, or never closed', () => {
    const entry = new URL('../dist/index.js', import.meta.url).href
    const script = `
      const { createSandboxRunner } = await import(${JSON.stringify(entry)})
      for (let i = 0; i < 3; i++) await createSandboxRunner({ threads: 1 }).close()
      const idle = createSandboxRunner({ threads: 1 })
      const used = createSandboxRunner({ threads: 1 })
      const outcome = await used.evaluate({ code: 'const workflow = { consumers: { T: { prepare: () => 1 } } }',
        handler: { group: 'consumers', name: 'T', method: 'prepare' }, args: [], globals: {}, host: async () => undefined })
      console.log(outcome.ok ? 'evaluated' : outcome.error.message)`
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-exit-'))
    try {
      writeFileSync(join(dir, 'main.mjs'), script)
      const child = spawnSync(process.execPath, [join(dir, 'main.mjs')], { encoding: 'utf8', timeout: 30_000 })
      expect(child.stdout.trim()).toBe('evaluated')
      expect(child.status).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
