import { describe, expect, it } from 'vitest'
import { attachDebugLogger, debugEnabled, debugNamespace, formatDebugLine } from './debug.js'
import { EngineEmitter } from './events.js'

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)

function capture(patterns: string | undefined) {
  const events = new EngineEmitter()
  const lines: string[] = []
  const detach = attachDebugLogger(events, { patterns, write: (l) => lines.push(l), now: () => T0 })
  return { events, lines, detach }
}

describe('debug logger', () => {
  it('names the namespace after the first part of the event name', () => {
    expect(debugNamespace('session:start')).toBe('ledgerflow:session')
    expect(debugNamespace('scheduler:tick:empty')).toBe('ledgerflow:scheduler')
  })

  it.each([
    ['ledgerflow:*', 'ledgerflow:session', true],
    ['*', 'ledgerflow:run', true],
    ['ledgerflow:session', 'ledgerflow:session', true],
    ['ledgerflow:session', 'ledgerflow:run', false],
    ['other,ledgerflow:run', 'ledgerflow:run', true],
    ['ledgerflow:* -ledgerflow:scheduler', 'ledgerflow:scheduler', false],
    ['ledgerflow:*,-ledgerflow:scheduler', 'ledgerflow:run', true],
    ['express:*', 'ledgerflow:run', false],
    ['', 'ledgerflow:run', false],
  ])('matches DEBUG=%j against %s as %s', (patterns, namespace, expected) => {
    expect(debugEnabled(namespace, patterns)).toBe(expected)
  })

  it('writes one line per enabled event with its payload as key=value pairs', () => {
    const { events, lines } = capture('ledgerflow:*')
    events.emit('session:start', { sessionId: 'session_1', workflowId: 'wf', trigger: 'manual' })
    events.emit('run:end', { runId: 'run_1', workflowId: 'wf', phase: 'preparing', status: 'failed', error: 'boom: "x"' })
    expect(lines).toEqual([
      '2026-01-01T12:00:00.000Z ledgerflow:session session:start sessionId=session_1 workflowId=wf trigger=manual',
      '2026-01-01T12:00:00.000Z ledgerflow:run run:end runId=run_1 workflowId=wf phase=preparing status=failed error="boom: \\"x\\""',
    ])
  })

  it('writes only the namespaces DEBUG names', () => {
    const { events, lines } = capture('ledgerflow:session')
    events.emit('run:start', { runId: 'r', sessionId: 's', workflowId: 'wf', handlerType: 'producer', handlerName: 'p' })
    events.emit('session:end', { sessionId: 's', workflowId: 'wf', status: 'completed' })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain('session:end')
  })

  it('subscribes nothing when DEBUG is unset or names no ledgerflow namespace', () => {
    for (const patterns of [undefined, '', 'express:router']) {
      const { events, lines } = capture(patterns)
      events.emit('session:start', { sessionId: 's', workflowId: 'wf', trigger: 'manual' })
      expect(lines).toEqual([])
    }
  })

  it('stops writing once detached', () => {
    const { events, lines, detach } = capture('ledgerflow:*')
    detach()
    events.emit('worker:start', { workerId: 'w' })
    expect(lines).toEqual([])
  })

  it('formats errors in payloads by name and message', () => {
    const line = formatDebugLine('worker:error', { workflowId: 'wf', error: new TypeError('bad thing') }, T0)
    expect(line).toBe('2026-01-01T12:00:00.000Z ledgerflow:worker worker:error workflowId=wf error="TypeError: bad thing"')
  })

  it('reads DEBUG from the environment by default', () => {
    const before = process.env.DEBUG
    process.env.DEBUG = 'ledgerflow:worker'
    const events = new EngineEmitter()
    const writes: string[] = []
    const original = process.stderr.write.bind(process.stderr)
    process.stderr.write = ((chunk: string) => {
      writes.push(String(chunk))
      return true
    }) as typeof process.stderr.write
    try {
      attachDebugLogger(events, { now: () => T0 })
      events.emit('worker:start', { workerId: 'w1' })
    } finally {
      process.stderr.write = original
      if (before === undefined) delete process.env.DEBUG
      else process.env.DEBUG = before
    }
    expect(writes).toEqual(['2026-01-01T12:00:00.000Z ledgerflow:worker worker:start workerId=w1\n'])
  })
})
