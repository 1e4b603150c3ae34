import { afterAll, describe, expect, it } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { instanceStats } from './quickjs-instance.js'
import { consumer, expectHealthy, failure, request, recordingHost, success } from './test-helpers/harness.js'

const runner = createSandboxRunner({ limits: { timeoutMs: 1000 } })
afterAll(() => runner.close())

describe('createSandboxRunner: handlers, tools and console', () => {
  it('calls the chosen handler with the JSON arguments and returns its JSON result', async () => {
    const code = `const workflow = {
  producers: { poll: { handler: async (state) => ({ seen: (state?.seen ?? 0) + 1 }) } },
  consumers: { reply: { prepare: async (state, extra) => ({ state, extra }) } },
};`
    const produced = await runner.evaluate(request(code, { handler: { group: 'producers', name: 'poll', method: 'handler' }, args: [null] }))
    expect(success(produced)).toEqual({ seen: 1 })
    const prepared = await runner.evaluate(request(code, { handler: { group: 'consumers', name: 'reply', method: 'prepare' }, args: [{ a: [1, 'x'] }, 2] }))
    expect(success(prepared)).toEqual({ state: { a: [1, 'x'] }, extra: 2 })
  })

  it('calls the handler as a method of its handler object', async () => {
    const code = consumer('limit: 3, prepare() { return this.limit * 2 }')
    expect(success(await runner.evaluate(request(code)))).toBe(6)
  })

  it('returns undefined, null, strings and nested values as they are', async () => {
    for (const [body, expected] of [['', undefined], ['return null', null], ['return "hé"', 'hé'], ['return [{ a: { b: [true] } }]', [{ a: { b: [true] } }]]] as const) {
      expect(success(await runner.evaluate(request(consumer(`prepare() { ${body} }`))))).toEqual(expected)
    }
  })

  it('resolves tool calls through the host with JSON input, index and call site', async () => {
    const recording = recordingHost()
    const code = `const workflow = { consumers: { T: {
  async prepare() {
    const a = await Email.send({ to: "a@example.com" });
    const [b, c] = await Promise.all([Topics.peek({ topic: "t" }), Topics.publish()]);
    return [a, b, c];
  } } } };`
    const value = success(await runner.evaluate(request(code, { recording })))
    expect(value).toEqual([
      { echo: { to: 'a@example.com' }, index: 0 },
      { echo: { topic: 't' }, index: 1 },
      { echo: null, index: 2 },
    ])
    expect(recording.calls.map(({ namespace, method, input, index }) => ({ namespace, method, input, index }))).toEqual([
      { namespace: 'Email', method: 'send', input: { to: 'a@example.com' }, index: 0 },
      { namespace: 'Topics', method: 'peek', input: { topic: 't' }, index: 1 },
      { namespace: 'Topics', method: 'publish', input: null, index: 2 },
    ])
    // QuickJS places a call at its opening parenthesis.
    expect(recording.calls[0]?.callSite).toEqual({ line: 3, column: 31 })
    expect(recording.calls[1]?.callSite?.line).toBe(4)
  })

  it('hands a tool result of undefined back as undefined', async () => {
    const recording = recordingHost({ send: async () => undefined })
    const code = consumer('async prepare() { const r = await Email.send({}); return r === undefined }')
    expect(success(await runner.evaluate(request(code, { recording })))).toBe(true)
  })

  it('delivers console messages synchronously, in order, with their level, formatted like a console', async () => {
    const recording = recordingHost()
    const code = consumer(`async prepare() {
      console.log("a", 1, true, null, undefined, [1, "x"], { k: { n: 2 } });
      console.info("%s has %d items", "cart", 3);
      console.warn(new TypeError("bad"));
      await Email.send({});
      console.error({ deep: { deeper: { deepest: { gone: 1 } } } }, () => 1, 10n, Symbol("s"));
    }`)
    success(await runner.evaluate(request(code, { recording })))
    expect(recording.logs[0]).toEqual(['log', 'a 1 true null undefined [ 1, "x" ] { k: { n: 2 } }'])
    expect(recording.logs[1]).toEqual(['info', 'cart has 3 items'])
    expect(recording.logs[2]?.[0]).toBe('warn')
    expect(recording.logs[2]?.[1]).toMatch(/^TypeError: bad\n +at prepare \(workflow\.js:4:/)
    expect(recording.logs[3]).toEqual(['error', '{ deep: { deeper: { deepest: [Object] } } } [Function (anonymous)] 10n Symbol(s)'])
  })

  it('prints cycles as [Circular] and truncates long console messages with a marker', async () => {
    const recording = recordingHost()
    const code = consumer('prepare() { const a = { name: "a" }; a.self = a; console.log(a); console.log("é".repeat(5000)) }')
    success(await runner.evaluate(request(code, { recording, limits: { maxConsoleMessageBytes: 100 } })))
    expect(recording.logs[0]).toEqual(['log', '{ name: "a", self: [Circular] }'])
    const long = recording.logs[1]?.[1] ?? ''
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(100)
    expect(long).toMatch(/^é+ …\[truncated\]$/)
  })

  it('keeps the console messages of an evaluation that fails', async () => {
    const recording = recordingHost()
    const code = consumer('prepare() { console.log("before"); throw new Error("after") }')
    failure(await runner.evaluate(request(code, { recording })), 'script_error')
    expect(recording.logs).toEqual([['log', 'before']])
  })

  it('reports counters of the evaluation', async () => {
    const outcome = await runner.evaluate(request(consumer('async prepare() { await Email.send({}); await Email.send({}) }')))
    expect(outcome.stats.hostCalls).toBe(2)
    expect(outcome.stats.wallMs).toBeGreaterThan(0)
    expect(outcome.stats.guestMs).toBeGreaterThan(0)
    expect(outcome.stats.guestMs).toBeLessThanOrEqual(outcome.stats.wallMs)
  })

  it('does not count time spent waiting for the host as guest time', async () => {
    const recording = recordingHost({ send: () => new Promise((resolve) => setTimeout(() => resolve(1), 300)) })
    const outcome = await runner.evaluate(request(consumer('async prepare() { return await Email.send({}) }'), { recording, limits: { timeoutMs: 100 } }))
    expect(success(outcome)).toBe(1)
    expect(outcome.stats.wallMs).toBeGreaterThanOrEqual(290)
  })

  it('runs concurrent evaluations in separate instances without mixing their tool calls', async () => {
    const recording = recordingHost({ send: (call) => new Promise((resolve) => setTimeout(() => resolve(call.input), 20 - call.index)) })
    const code = consumer('async prepare(n) { globalThis.mine = n; const a = await Email.send({ n }); const b = await Email.send({ n }); return [a.n, b.n, mine] }')
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, n) => runner.evaluate(request(code, { args: [n], recording }))))
    expect(outcomes.map(success)).toEqual(Array.from({ length: 8 }, (_, n) => [n, n, n]))
    expect(recording.calls).toHaveLength(16)
  })

  it('prepares pooled instances between evaluations and takes one instead of creating it', async () => {
    const before = instanceStats.created
    const pooled = createSandboxRunner({ pool: { size: 2 } })
    try {
      for (let i = 0; i < 2000 && instanceStats.created < before + 2; i++) await new Promise((resolve) => setImmediate(resolve))
      expect(instanceStats.created).toBe(before + 2)
      expect(success(await pooled.evaluate(request(consumer('prepare() { return 1 }'))))).toBe(1)
      // The refill runs after this turn of the event loop: the evaluation itself created nothing.
      expect(instanceStats.created).toBe(before + 2)
    } finally {
      await pooled.close()
    }
  })

  it('serves a pooled runner and a runner without pool alike', async () => {
    const pooled = createSandboxRunner({ pool: { size: 2 } })
    try {
      for (let i = 0; i < 4; i++) await expectHealthy(pooled)
    } finally {
      await pooled.close()
    }
    await expectHealthy(runner)
  })

  it('fails evaluations after close() with sandbox_internal', async () => {
    const closing = createSandboxRunner({ pool: { size: 1 } })
    await closing.close()
    expect(failure(await closing.evaluate(request(consumer('prepare() {}'))), 'sandbox_internal').type).toBe('internal')
  })
})

describe('createSandboxRunner: requests it refuses', () => {
  it('refuses handler names that are not identifiers with handler_not_found', async () => {
    const code = consumer('prepare() {}')
    const bad = [
      { group: 'consumers', name: 'T; globalThis.x = 1', method: 'prepare' },
      { group: 'consumers', name: 'T', method: 'prepare()' },
      { group: 'workflow', name: 'T', method: 'prepare' },
    ] as const
    for (const handler of bad) {
      failure(await runner.evaluate(request(code, { handler: handler as never })), 'handler_not_found')
    }
  })

  it('reports a missing workflow, group, handler or method with handler_not_found', async () => {
    const cases: Array<[string, RegExp]> = [
      ['const x = 1', /does not define workflow/],
      ['const workflow = 5', /workflow is number, not an object/],
      ['const workflow = {}', /workflow\.consumers is not an object/],
      ['const workflow = { consumers: {} }', /workflow\.consumers\.T is not defined/],
      ['const workflow = { consumers: { T: {} } }', /workflow\.consumers\.T\.prepare is not a function/],
    ]
    for (const [code, message] of cases) {
      expect(failure(await runner.evaluate(request(code)), 'handler_not_found').message).toMatch(message)
    }
  })

  it('does not reach inherited properties as handlers', async () => {
    const outcome = await runner.evaluate(request('const workflow = { consumers: {} }', { handler: { group: 'consumers', name: 'constructor', method: 'call' } }))
    failure(outcome, 'handler_not_found')
  })

  it('refuses console as a tool namespace, and namespaces that shadow built-ins', async () => {
    failure(await runner.evaluate(request(consumer('prepare() {}'), { globals: { console: ['log'] } })), 'sandbox_internal')
    const shadow = failure(await runner.evaluate(request(consumer('prepare() {}'), { globals: { JSON: ['parse'] } })), 'sandbox_internal')
    expect(shadow.message).toMatch(/collides with a global/)
  })

  it('refuses invalid per-request limits with sandbox_internal', async () => {
    failure(await runner.evaluate(request(consumer('prepare() {}'), { limits: { timeoutMs: -1 } })), 'sandbox_internal')
  })

  it('throws a RangeError for invalid runner limits or pool size at creation', () => {
    expect(() => createSandboxRunner({ limits: { memoryLimitBytes: 10 } })).toThrow(RangeError)
    expect(() => createSandboxRunner({ pool: { size: -1 } })).toThrow(RangeError)
  })
})
