import { afterAll, describe, expect, it } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { RUNNER_VARIANTS, consumer, failure, request, recordingHost, success } from './test-helpers/harness.js'

// Every behaviour holds on the calling thread and in a worker thread alike.
describe.each(RUNNER_VARIANTS)('on the $name', ({ options }) => {
  const runner = createSandboxRunner({ limits: { timeoutMs: 1000 }, ...options })
  afterAll(() => runner.close())

  describe('createSandboxRunner: errors and their positions', () => {
    it('reports a runtime error with name, message, workflow.js line and column, and a workflow-only stack', async () => {
      const code = `const workflow = {
  consumers: {
    T: {
      prepare(state) {
        const total = state.items.length;
        return total + state.missing.deep;
      },
    },
  },
};`
      const error = failure(await runner.evaluate(request(code, { args: [{ items: [1] }] })), 'script_error')
      expect(error).toMatchObject({ type: 'logic', name: 'TypeError', location: { line: 6, column: 37 } })
      expect(error.message).toMatch(/deep/)
      expect(error.stack).toBe('    at prepare (workflow.js:6:37)')
    })

    it('keeps the user source unchanged, so positions match it line for line after long scripts', async () => {
      const filler = Array.from({ length: 150 }, (_, i) => `const helper${i} = (x) => x + ${i};`).join('\n')
      const code = `${filler}\nconst workflow = { consumers: { T: {\n  prepare() {\n    helper3(1);\n    null.boom;\n  } } } };`
      expect(failure(await runner.evaluate(request(code)), 'script_error').location).toEqual({ line: 154, column: 9 })
    })

    it('reports a syntax error with syntax_error and its position', async () => {
      const code = 'const a = 1;\nconst b = 2;\nconst workflow = {\n  consumers: { T: { prepare() { return a +; } } },\n};'
      const error = failure(await runner.evaluate(request(code)), 'syntax_error')
      expect(error).toMatchObject({ type: 'logic', name: 'SyntaxError', location: { line: 4, column: 43 } })
    })

    it('clamps the position of an unterminated script to its last line', async () => {
      const code = 'const workflow = {\n  consumers: {'
      const error = failure(await runner.evaluate(request(code)), 'syntax_error')
      expect(error.location?.line).toBe(2)
    })

    it('treats a SyntaxError thrown at run time as a script error, not a parse error of the script', async () => {
      const error = failure(await runner.evaluate(request(consumer('prepare() { JSON.parse("{") }'))), 'script_error')
      expect(error.name).toBe('SyntaxError')
    })

    it('reports an error thrown by top-level code as a script error with its line', async () => {
      const code = 'const x = 1;\nthrow new RangeError("top");\nconst workflow = {};'
      expect(failure(await runner.evaluate(request(code)), 'script_error')).toMatchObject({ name: 'RangeError', message: 'top', location: { line: 2, column: 21 } })
    })

    it('reports the line that made a failed tool call, with the trusted host error and its type', async () => {
      const code = `const workflow = { consumers: { T: {
  async prepare() {
    const x = 1;
    await Email.fail({ x });
  } } } };`
      const error = failure(await runner.evaluate(request(code)), 'script_error')
      expect(error).toMatchObject({
        type: 'network',
        name: 'ToolError',
        message: 'mail server unavailable',
        location: { line: 4, column: 21 },
        hostError: { name: 'ToolError', message: 'mail server unavailable', code: 'smtp_down', type: 'network' },
      })
      expect(error.stack).toBe('    at prepare (workflow.js:4:21)')
    })

    it('reports the calling line of a failed tool call made from a helper function', async () => {
      const code = `function notify(to) {\n  return Email.fail({ to });\n}\nconst workflow = { consumers: { T: {\n  async prepare() {\n    await notify("a");\n  } } } };`
      const error = failure(await runner.evaluate(request(code)), 'script_error')
      // QuickJS positions a tail call (`return f()`) at its return statement.
      expect(error.location).toEqual({ line: 2, column: 3 })
      expect(error.stack).toMatch(/^ +at notify \(workflow\.js:2:3\)\n +at prepare \(workflow\.js:6:\d+\)$/)
    })

    it('lets the guest catch a failed tool call and see plain data only, with no host stack', async () => {
      const code = consumer(`async prepare() {
      try { await Email.fail({}); } catch (e) {
        return { name: e.name, message: e.message, code: e.code, type: e.type, isError: e instanceof Error, stack: e.stack, keys: Object.keys(e) };
      }
    }`)
      const value = success(await runner.evaluate(request(code)))
      expect(value).toEqual({
        name: 'ToolError',
        message: 'mail server unavailable',
        code: 'smtp_down',
        type: 'network',
        isError: true,
        stack: expect.stringMatching(/^ +at prepare \(workflow\.js:2:\d+\)/),
        keys: expect.arrayContaining(['code', 'type']),
      })
      expect(JSON.stringify(value)).not.toMatch(/node_modules|harness|\.ts:/)
    })

    it('defaults the type of a host error to logic and drops types that are not error classes', async () => {
      for (const thrown of [new Error('plain'), Object.assign(new Error('odd'), { type: 'catastrophic', code: 42 }), 'a string']) {
        const recording = recordingHost({ send: () => Promise.reject(thrown) })
        const error = failure(await runner.evaluate(request(consumer('async prepare() { await Email.send({}) }'), { recording })), 'script_error')
        expect(error.type).toBe('logic')
        expect(error.hostError).toBeDefined()
        expect(error.hostError).not.toHaveProperty('type')
        expect(error.hostError).not.toHaveProperty('code')
      }
    })

    it('classifies a host error by the host record, never by what the guest claims', async () => {
      const forged = consumer(`async prepare() {
      const e = new Error("forged"); e.type = "auth"; e.code = "expired"; e.name = "ToolError"; throw e;
    }`)
      expect(failure(await runner.evaluate(request(forged)), 'script_error')).not.toHaveProperty('hostError')
      expect(failure(await runner.evaluate(request(forged))).type).toBe('logic')
      const rewrapped = consumer('async prepare() { try { await Email.fail({}) } catch (e) { throw new Error("wrapped: " + e.message) } }')
      const error = failure(await runner.evaluate(request(rewrapped)), 'script_error')
      expect(error).toMatchObject({ type: 'logic', message: 'wrapped: mail server unavailable' })
      expect(error).not.toHaveProperty('hostError')
    })

    it('keeps the host classification when the script rethrows the same error', async () => {
      const code = consumer('async prepare() { try { await Email.fail({}) } catch (e) { e.message = "changed"; throw e } }')
      expect(failure(await runner.evaluate(request(code)), 'script_error')).toMatchObject({ type: 'network', hostError: { message: 'mail server unavailable' } })
    })

    it('describes thrown values that are not Errors', async () => {
      const cases: Array<[string, string]> = [
        ['"boom"', 'Script threw a string: "boom"'],
        ['null', 'Script threw null'],
        ['undefined', 'Script threw undefined'],
        ['42', 'Script threw a number: 42'],
        ['{ reason: "nope" }', 'Script threw an object: {"reason":"nope"}'],
        ['[1, 2]', 'Script threw an array: [1,2]'],
        ['false', 'Script threw a boolean: false'],
      ]
      for (const [value, message] of cases) {
        const error = failure(await runner.evaluate(request(consumer(`prepare() { throw ${value} }`))), 'script_error')
        expect(error).toMatchObject({ type: 'logic', name: 'ThrownValue', message })
      }
      const rejected = failure(await runner.evaluate(request(consumer('prepare() { return Promise.reject("late") }'))), 'script_error')
      expect(rejected.message).toBe('Script threw a string: "late"')
    })

    it('survives errors whose name, message or stack getters throw', async () => {
      const code = consumer(`prepare() {
      const e = new Error("x");
      Object.defineProperty(e, "message", { get() { throw new Error("getter") } });
      Object.defineProperty(e, "name", { get() { throw 1 } });
      throw e;
    }`)
      const error = failure(await runner.evaluate(request(code)), 'script_error')
      expect(error.name).toBe('Error')
    })
  })
})
