import { afterAll, describe, expect, it } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { RUNNER_VARIANTS, FAST_LIMITS, consumer, expectHealthy, failure, recordingHost, request, success } from './test-helpers/harness.js'

// Every behaviour holds on the calling thread and in a worker thread alike.
describe.each(RUNNER_VARIANTS)('on the $name', ({ options }) => {
  const runner = createSandboxRunner({ limits: FAST_LIMITS, ...options })
  afterAll(() => runner.close())

  describe('hostile scripts: reaching the host', () => {
    it('exposes no Node or host capability as a global', async () => {
      const code = consumer(`prepare() {
      const names = ["process", "require", "module", "exports", "Buffer", "fetch", "setTimeout", "setInterval",
        "setImmediate", "queueMicrotask", "WebAssembly", "Atomics", "XMLHttpRequest", "importScripts", "os", "std"];
      const types = {};
      for (const name of names) types[name] = typeof globalThis[name];
      return types;
    }`)
      const types = success(await runner.evaluate(request(code))) as Record<string, string>
      for (const [name, type] of Object.entries(types)) expect([name, type]).toEqual([name, 'undefined'])
    })

    it('lists only language built-ins, the tool namespaces and console on globalThis', async () => {
      const code = consumer('prepare() { return Object.getOwnPropertyNames(globalThis).filter((n) => !/^[A-Z]/.test(n)).sort() }')
      const names = success(await runner.evaluate(request(code)))
      expect(names).toEqual([
        'console', 'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'eval',
        'globalThis', 'isFinite', 'isNaN', 'parseFloat', 'parseInt', 'undefined', 'unescape',
      ])
      const upper = success(await runner.evaluate(request(consumer('prepare() { return Object.getOwnPropertyNames(globalThis).filter((n) => /^[A-Z]/.test(n)) }'))))
      expect(upper).toEqual(expect.arrayContaining(['Email', 'Topics', 'Object', 'Promise']))
      expect(upper).not.toEqual(expect.arrayContaining(['WebAssembly']))
    })

    it('keeps the Function constructor inside the guest: through this, a tool function, a tool promise and console', async () => {
      const code = consumer(`async prepare() {
      const probes = {
        self: () => this.constructor.constructor("return typeof process")(),
        tool: () => Email.send.constructor.constructor("return process")(),
        promise: () => Object.getPrototypeOf(Email.send({})).constructor.constructor("return process")(),
        console: () => console.log.constructor("return require")(),
        proto: () => Topics.peek.__proto__.constructor("return globalThis.process")(),
      };
      const out = {};
      for (const [name, probe] of Object.entries(probes)) {
        try { out[name] = String(probe()); } catch (e) { out[name] = e.name + ": " + e.message; }
      }
      return out;
    }`)
      expect(success(await runner.evaluate(request(code)))).toEqual({
        self: 'undefined',
        tool: "ReferenceError: 'process' is not defined",
        promise: "ReferenceError: 'process' is not defined",
        console: "ReferenceError: 'require' is not defined",
        proto: 'undefined',
      })
    })

    it('does not let the script replace the tools it was given by tampering with intrinsics', async () => {
      const recording = recordingHost()
      const code = consumer(`async prepare() {
      JSON.stringify = () => '"forged"'; JSON.parse = () => "forged"; Promise.prototype.then = function () { return this };
      Reflect.apply = () => "forged"; WeakMap.prototype.get = () => 0;
      const r = await Email.send({ real: true });
      return r;
    }`)
      const value = await runner.evaluate(request(code, { recording }))
      expect(recording.calls[0]?.input).toEqual({ real: true })
      expect(value.ok).toBe(true)
    })

    it('does not share state between evaluations', async () => {
      await runner.evaluate(request(consumer('prepare() { globalThis.leak = 1; Object.prototype.leaked = 2; Array.prototype.push = null }')))
      const code = consumer('prepare() { return [typeof leak, typeof ({}).leaked, typeof [].push] }')
      expect(success(await runner.evaluate(request(code)))).toEqual(['undefined', 'undefined', 'function'])
    })
  })

  describe('hostile scripts: values handed back', () => {
    it('does not let guest prototype pollution reach host objects', async () => {
      const code = consumer('prepare() { Object.prototype.polluted = 1; Array.prototype.polluted = 2; return { a: [1] } }')
      const value = success(await runner.evaluate(request(code))) as Record<string, unknown>
      expect(value).toEqual({ a: [1] })
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      expect(([] as unknown as Record<string, unknown>).polluted).toBeUndefined()
    })

    it('parses a returned "__proto__" key as plain data without touching host prototypes', async () => {
      const code = consumer('prepare() { return JSON.parse(\'{"__proto__": {"polluted": true}, "ok": 1}\') }')
      const value = success(await runner.evaluate(request(code))) as Record<string, unknown>
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
      expect(Object.hasOwn(value, '__proto__')).toBe(true)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      const recording = recordingHost()
      await runner.evaluate(request(consumer('async prepare() { await Email.send(JSON.parse(\'{"__proto__": {"polluted": true}}\')) }'), { recording }))
      expect(Object.getPrototypeOf(recording.calls[0]?.input)).toBe(Object.prototype)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    })

    it.each([
      ['a function', 'return () => 1', /returned a function/],
      ['a symbol', 'return Symbol("s")', /returned a symbol/],
      ['a cycle', 'const a = {}; a.self = a; return a', /circular/],
      ['a BigInt', 'return { n: 10n }', /BigInt/i],
      ['a toJSON that returns undefined', 'return { toJSON() { return undefined } }', /JSON cannot represent/],
    ])('refuses %s as a result with result_not_json', async (_, body, message) => {
      const error = failure(await runner.evaluate(request(consumer(`prepare() { ${body} }`))), 'result_not_json')
      expect(error.type).toBe('logic')
      expect(error.message).toMatch(message)
    })

    it('returns undefined for undefined, and follows JSON.stringify for nested values', async () => {
      expect(success(await runner.evaluate(request(consumer('async prepare() { return undefined }'))))).toBeUndefined()
      const value = success(await runner.evaluate(request(consumer('prepare() { return { f() {}, u: undefined, n: NaN, d: new Date(0) } }'))))
      expect(value).toEqual({ n: null, d: '1970-01-01T00:00:00.000Z' })
    })

    it('runs a toJSON that throws as a script error', async () => {
      failure(await runner.evaluate(request(consumer('prepare() { return { toJSON() { throw new Error("nope") } } }'))), 'script_error')
    })
  })

  describe('hostile scripts: sizes and counts', () => {
    it('refuses a result larger than maxResultBytes with result_too_large, before parsing it', async () => {
      const limits = { maxResultBytes: 1000 }
      expect(success(await runner.evaluate(request(consumer('prepare() { return "x".repeat(990) }'), { limits })))).toHaveLength(990)
      failure(await runner.evaluate(request(consumer('prepare() { return "x".repeat(1000) }'), { limits })), 'result_too_large')
      // Multi-byte characters count as their UTF-8 bytes.
      failure(await runner.evaluate(request(consumer('prepare() { return "é".repeat(600) }'), { limits })), 'result_too_large')
      failure(await runner.evaluate(request(consumer('prepare() { return "x".repeat(5e6) }'))), 'result_too_large')
    })

    it('refuses a tool input larger than maxArgumentBytes with argument_too_large, naming the tool and the line', async () => {
      const recording = recordingHost()
      const code = consumer('async prepare() {\n  await Email.send({ body: "x".repeat(2000) });\n}')
      const error = failure(await runner.evaluate(request(code, { recording, limits: { maxArgumentBytes: 1000 } })), 'argument_too_large')
      expect(error.message).toMatch(/Email\.send/)
      expect(error.location?.line).toBe(2)
      expect(recording.calls).toEqual([])
    })

    it('refuses a tool result larger than maxArgumentBytes with argument_too_large', async () => {
      const recording = recordingHost({ peek: async () => 'y'.repeat(5000) })
      const code = consumer('async prepare() { try { await Topics.peek({}) } catch (e) { return "caught" } }')
      failure(await runner.evaluate(request(code, { recording, limits: { maxArgumentBytes: 1000 } })), 'argument_too_large')
    })

    it('refuses handler arguments larger than the result and argument caps together', async () => {
      const outcome = await runner.evaluate(request(consumer('prepare() {}'), { args: ['z'.repeat(3000)], limits: { maxArgumentBytes: 1000, maxResultBytes: 1000 } }))
      failure(outcome, 'argument_too_large')
    })

    it('allows maxHostCalls calls and stops the next one with host_call_limit', async () => {
      const code = consumer('async prepare(n) { for (let i = 0; i < n; i++) { try { await Email.send({ i }) } catch (e) {} } return n }')
      expect(success(await runner.evaluate(request(code, { args: [3], limits: { maxHostCalls: 3 } })))).toBe(3)
      const recording = recordingHost()
      const error = failure(await runner.evaluate(request(code, { args: [4], recording, limits: { maxHostCalls: 3 } })), 'host_call_limit')
      expect(error.type).toBe('logic')
      expect(recording.calls).toHaveLength(3)
    })

    it('stops a script that floods the host with calls it never awaits', async () => {
      const code = consumer('prepare() { for (;;) Email.send({}) }')
      failure(await runner.evaluate(request(code, { limits: { maxHostCalls: 50 } })), 'host_call_limit')
      await expectHealthy(runner)
    })
  })
})
