import { describe, expect, it } from 'vitest'
import { SandboxError, isErrorType, limitError, toHostErrorData } from './errors.js'
import { DEFAULT_LIMITS, resolveLimits } from './limits.js'
import { classifyThrown, firstWorkflowPosition, parseGuestThrown, thrownValueMessage, truncateUtf8, workflowFrames } from './marshal.js'

const STACK = '    at helper (workflow.js:12:5)\n    at apply (native)\n    at run (prelude.js:80:20)\n    at prepare (workflow.js:30:7)\n'

describe('marshal: stacks and positions', () => {
  it('keeps only workflow.js frames of a guest stack', () => {
    expect(workflowFrames(STACK)).toBe('    at helper (workflow.js:12:5)\n    at prepare (workflow.js:30:7)')
  })

  it('finds the first workflow.js position, clamping positions past the last line of the script', () => {
    expect(firstWorkflowPosition(STACK)).toEqual({ line: 12, column: 5 })
    expect(firstWorkflowPosition('    at workflow.js:9:1\n', 7)).toEqual({ line: 7, column: 1 })
    expect(firstWorkflowPosition('    at run (prelude.js:1:1)\n')).toBeUndefined()
  })
})

describe('marshal: thrown values', () => {
  const context = { failedCalls: new Map([[3, { name: 'ToolError', message: 'denied', type: 'permission' as const }]]), phase: 'run' as const, scriptLines: 100 }

  it('parses only well-formed guest descriptions', () => {
    expect(parseGuestThrown('{"k":"value","type":"string","text":"x"}')).toEqual({ k: 'value', type: 'string', text: 'x' })
    expect(parseGuestThrown('{"k":"error","name":1}')).toBeUndefined()
    expect(parseGuestThrown('not json')).toBeUndefined()
  })

  it('classifies an error carrying the id of a failed host call with the host record', () => {
    const error = classifyThrown({ k: 'error', name: 'X', message: 'guest says', stack: STACK, syntax: false, host: 3 }, context)
    expect(error).toMatchObject({ code: 'script_error', type: 'permission', name: 'ToolError', message: 'denied', location: { line: 12, column: 5 } })
    expect(error.hostError).toEqual({ name: 'ToolError', message: 'denied', type: 'permission' })
  })

  it('ignores a host call id that names no failed call', () => {
    const error = classifyThrown({ k: 'error', name: 'Error', message: 'x', stack: '', syntax: false, host: 99 }, context)
    expect(error).toEqual({ code: 'script_error', type: 'logic', name: 'Error', message: 'x' })
  })

  it('maps QuickJS resource errors to their limit codes', () => {
    const internal = (message: string) => classifyThrown({ k: 'error', name: 'InternalError', message, stack: '', syntax: false }, context).code
    expect(internal('out of memory')).toBe('sandbox_memory')
    expect(internal('stack overflow')).toBe('sandbox_stack_overflow')
    expect(internal('interrupted')).toBe('sandbox_stack_overflow')
    expect(internal('string too long')).toBe('script_error')
  })

  it('treats a parse error as syntax_error only while the script loads', () => {
    const thrown = { k: 'error' as const, name: 'SyntaxError', message: 'bad', stack: '    at workflow.js:2:3\n', syntax: true }
    expect(classifyThrown(thrown, { ...context, phase: 'load' }).code).toBe('syntax_error')
    expect(classifyThrown(thrown, context).code).toBe('script_error')
  })

  it('describes thrown non-Errors by type', () => {
    expect(thrownValueMessage('string', 'a "b"')).toBe('Script threw a string: "a \\"b\\""')
    expect(thrownValueMessage('undefined', '')).toBe('Script threw undefined')
    expect(thrownValueMessage('object', '{}')).toBe('Script threw an object: {}')
    expect(thrownValueMessage('bigint', '1')).toBe('Script threw a bigint: 1')
  })
})

describe('marshal: truncation', () => {
  it('cuts text to a UTF-8 byte budget without splitting characters, marker included', () => {
    expect(truncateUtf8('short', 10, '…')).toBe('short')
    const cut = truncateUtf8('€'.repeat(10), 10, '…')
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(10)
    expect(cut).toBe('€€…')
  })
})

describe('errors and limits', () => {
  it('reads only string code and a valid type off a host error, never its stack', () => {
    const thrown = Object.assign(new TypeError('bad input'), { code: 'E_INPUT', type: 'logic', secret: 'x' })
    expect(toHostErrorData(thrown)).toEqual({ name: 'TypeError', message: 'bad input', code: 'E_INPUT', type: 'logic' })
    expect(toHostErrorData({ name: 7, message: 'm', code: 5, type: 'fatal' })).toEqual({ name: 'Error', message: 'm' })
    expect(toHostErrorData(null)).toEqual({ name: 'Error', message: 'Host call failed: null' })
    const hostile = { get message(): string { throw new Error('getter') } }
    expect(toHostErrorData(hostile)).toEqual({ name: 'Error', message: '' })
  })

  it('tells error classes apart from other strings', () => {
    expect(['auth', 'permission', 'network', 'logic', 'internal'].every(isErrorType)).toBe(true)
    expect(isErrorType('indeterminate')).toBe(false)
  })

  it('wraps error data in a SandboxError recognised across copies of the package', () => {
    const data = limitError('sandbox_timeout', 'slow', { line: 1, column: 2 })
    const error = new SandboxError(data)
    expect(error).toBeInstanceOf(Error)
    expect(SandboxError.isInstance(error)).toBe(true)
    expect(SandboxError.isInstance(new Error('x'))).toBe(false)
    expect(error.toJSON()).toEqual(data)
    expect(data).toEqual({ code: 'sandbox_timeout', type: 'logic', name: 'TimeoutError', message: 'slow', location: { line: 1, column: 2 } })
    expect(limitError('sandbox_internal', 'bug').type).toBe('internal')
  })

  it('merges limit layers over the defaults and refuses values out of range', () => {
    expect(resolveLimits({ timeoutMs: 10 }, undefined, { timeoutMs: 20, maxHostCalls: 0 })).toEqual({ ...DEFAULT_LIMITS, timeoutMs: 20, maxHostCalls: 0 })
    expect(() => resolveLimits({ memoryLimitBytes: 1024 })).toThrow(/memoryLimitBytes/)
    expect(() => resolveLimits({ maxStackBytes: 64 * 1024 * 1024 })).toThrow(RangeError)
    expect(() => resolveLimits({ timeoutMs: 1.5 })).toThrow(RangeError)
  })
})
