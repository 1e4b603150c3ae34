import { afterAll, describe, expect, it } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { RUNNER_VARIANTS, consumer, failure, recordingHost, request, success } from './test-helpers/harness.js'

// The part of the prelude that only some evaluations need is compiled on first use, after user code has run.
describe.each(RUNNER_VARIANTS)('lazily compiled prelude, on the $name', ({ options }) => {
  const runner = createSandboxRunner({ limits: { timeoutMs: 1000 }, ...options })
  afterAll(() => runner.close())

  it('formats console lines of primitives exactly as the full formatter does', async () => {
    const recording = recordingHost()
    const code = consumer(`prepare() {
      console.log("", "a", -0, 0, 1.5, 10n, true, false, null, undefined, Symbol("s"), NaN);
      console.log("100%", "sure");
      console.log("%s and %d", "x", 2);
      console.log("%s", { k: 1 });
      console.log(-0, { k: -0 });
      console.log();
    }`)
    success(await runner.evaluate(request(code, { recording })))
    expect(recording.logs.map(([, message]) => message)).toEqual([
      ' a -0 0 1.5 10n true false null undefined Symbol(s) NaN',
      '100% sure',
      'x and 2',
      '{ k: 1 }',
      '-0 { k: -0 }',
      '',
    ])
  })

  it('formats, describes errors and validates with the intrinsics captured before user code ran', async () => {
    const recording = recordingHost()
    const code = `
      Object.keys = () => ["hijacked"];
      JSON.stringify = () => "hijacked";
      Array.from = () => ["hijacked"];
      Reflect.apply = () => "hijacked";
      String = () => "hijacked";
      Error = function () {};
      const workflow = { consumers: { T: { prepare() {
        console.log({ a: [1, { b: 2 }] }, new TypeError("shown"));
        throw new RangeError("kept");
      } } } };`
    const error = failure(await runner.evaluate(request(code, { recording })), 'script_error')
    expect(error).toMatchObject({ name: 'RangeError', message: 'kept', location: { line: 10, column: 29 } })
    expect(recording.logs[0]?.[1]).toMatch(/^\{ a: \[ 1, \{ b: 2 \} \] \} TypeError: shown\n +at prepare \(workflow\.js:9:/)
  })

  it('classifies a failed tool call by its line after user code replaced the stack helpers', async () => {
    const code = consumer(`async prepare() {
      String.prototype.indexOf = () => -1;
      await Email.fail({});
    }`)
    const error = failure(await runner.evaluate(request(code)), 'script_error')
    expect(error).toMatchObject({ type: 'network', location: { line: 3, column: 23 }, hostError: { code: 'smtp_down' } })
  })
})
