import { describe, expect, it } from 'vitest'
import { validateWorkflowScript } from './validate-workflow-script.js'
import type { ValidationResult } from './types.js'

const VALID = `const workflow = {
  topics: { "email.received": {}, "email.replied": {} },
  producers: {
    pollInbox: {
      schedule: { interval: "5m" },
      publishes: ["email.received"],
      handler: async (state) => state,
    },
    nightly: { schedule: { cron: "0 3 * * *", timezone: "Europe/Paris" }, handler: async () => {} },
  },
  consumers: {
    reply: {
      subscribe: ["email.received"],
      publishes: ["email.replied"],
      prepare: async () => ({ reservations: [], data: {} }),
      mutate: async (prepared) => { await Email.send(prepared.data); },
      next: async () => undefined,
    },
    audit: { subscribe: ["email.replied"], prepare: async () => ({ reservations: [] }) },
  },
};`

const validate = (code: string) => validateWorkflowScript(code, { globals: { Email: ['send'] }, limits: { timeoutMs: 1000 } })

function message(result: ValidationResult): string {
  if (result.ok) throw new Error('expected the script to be invalid')
  return result.error.message
}

/** The valid workflow with its handler config replaced: `{ topics, producers, consumers }` source text. */
const workflow = (body: string) => `const workflow = ${body};`
const okConsumer = 'prepare() {}, subscribe: ["t"]'

describe('validateWorkflowScript', () => {
  it('extracts the handler config in declared order, with defaults and warnings', async () => {
    const result = await validate(VALID)
    expect(result).toEqual({
      ok: true,
      config: {
        topics: ['email.received', 'email.replied'],
        producers: [
          { name: 'pollInbox', schedule: { interval: '5m' }, publishes: ['email.received'] },
          { name: 'nightly', schedule: { cron: '0 3 * * *', timezone: 'Europe/Paris' }, publishes: [] },
        ],
        consumers: [
          { name: 'reply', subscribe: ['email.received'], publishes: ['email.replied'], hasMutate: true, hasNext: true },
          { name: 'audit', subscribe: ['email.replied'], publishes: [], hasMutate: false, hasNext: false },
        ],
      },
      warnings: [],
    })
  })

  it('warns about declared topics nobody subscribes to, and about unknown fields', async () => {
    const result = await validate(workflow(`{ topics: { a: {}, lonely: {} }, extra: 1, consumers: { c: { subscribe: ["a"], prepare() {}, prepar() {} } } }`))
    expect(result.ok && result.warnings).toEqual([
      "workflow: unknown field 'extra' is ignored",
      "Consumer 'c': unknown field 'prepar' is ignored",
      "Topic 'lonely' is declared but no consumer subscribes to it",
    ])
  })

  it.each([
    ['no workflow at all', 'const x = 1', 'The script does not define workflow: declare a top-level const workflow = { topics, producers, consumers }'],
    ['a workflow that is not an object', workflow('[]'), 'workflow must be an object, got an array'],
    ['producers that are not an object', workflow('{ producers: [] }'), 'workflow.producers must be an object of named producers, got an array'],
    ['topics that are an array', workflow(`{ topics: ["t"], consumers: { c: { ${okConsumer} } } }`), 'workflow.topics must be an object of topic names, for example { "email.received": {} }, got an array'],
    ['no producer or consumer', workflow('{ topics: {} }'), 'The workflow must declare at least one producer or consumer (workflow.producers and workflow.consumers are missing or empty)'],
    ['empty producers and consumers', workflow('{ producers: {}, consumers: {} }'), 'The workflow must declare at least one producer or consumer (workflow.producers and workflow.consumers are missing or empty)'],
    ['a handler name that is not an identifier', workflow(`{ consumers: { "poll-inbox": { ${okConsumer} } } }`), "Consumer name 'poll-inbox' is not a valid identifier (use letters, digits, _ and $, not starting with a digit)"],
    ['a producer and a consumer sharing a name', workflow(`{ topics: { t: {} }, producers: { x: { handler() {}, schedule: { interval: "1m" } } }, consumers: { x: { ${okConsumer} } } }`), "Handler name 'x' is used by both a producer and a consumer; handler names must be unique"],
    ['a producer that is not an object', workflow('{ producers: { p: 5 } }'), "Producer 'p' must be an object with a handler and a schedule, got a number"],
    ['a producer without handler', workflow('{ producers: { p: { schedule: { interval: "1m" } } } }'), "Producer 'p': handler must be a function, got undefined"],
    ['a producer without schedule', workflow('{ producers: { p: { handler() {} } } }'), `Producer 'p': schedule is missing (use { interval: "5m" } or { cron: "*/5 * * * *" })`],
    ['a schedule with neither interval nor cron', workflow('{ producers: { p: { handler() {}, schedule: { every: "5m" } } } }'), `Producer 'p': schedule needs an interval (for example "5m") or a cron expression (for example "*/5 * * * *")`],
    ['a schedule with interval and cron', workflow('{ producers: { p: { handler() {}, schedule: { interval: "5m", cron: "* * * * *" } } } }'), "Producer 'p': schedule has both interval and cron; use one of them"],
    ['an interval that is not a string', workflow('{ producers: { p: { handler() {}, schedule: { interval: 300 } } } }'), `Producer 'p': schedule.interval must be a string like "30s" or "5m", got a number`],
    ['a malformed interval', workflow('{ producers: { pollInbox: { handler() {}, schedule: { interval: "5x" } } } }'), `Producer 'pollInbox': schedule.interval "5x" is not a valid interval (use a number followed by s, m, h or d, for example "30s" or "5m"; the minimum is 1s)`],
    ['an interval in milliseconds', workflow('{ producers: { p: { handler() {}, schedule: { interval: "1500ms" } } } }'), `Producer 'p': schedule.interval "1500ms" is not a valid interval (use a number followed by s, m, h or d, for example "30s" or "5m"; the minimum is 1s)`],
    ['an interval under one second', workflow('{ producers: { p: { handler() {}, schedule: { interval: "0s" } } } }'), `Producer 'p': schedule.interval "0s" is not a valid interval (use a number followed by s, m, h or d, for example "30s" or "5m"; the minimum is 1s)`],
    ['a cron expression out of range', workflow('{ producers: { p: { handler() {}, schedule: { cron: "61 * * * *" } } } }'), `Producer 'p': schedule.cron "61 * * * *" is not a valid cron expression (Invalid value for minute: 61; use 5 fields "minute hour day month weekday", or 6 with seconds first)`],
    ['a cron expression with 7 fields', workflow('{ producers: { p: { handler() {}, schedule: { cron: "0 0 0 * * * 2030" } } } }'), /^Producer 'p': schedule\.cron "0 0 0 \* \* \* 2030" is not a valid cron expression \(.*7 parts/],
    ['a cron expression that never fires', workflow('{ producers: { p: { handler() {}, schedule: { cron: "0 0 30 2 *" } } } }'), `Producer 'p': schedule.cron "0 0 30 2 *" never matches a future time`],
    ['an unknown time zone', workflow('{ producers: { p: { handler() {}, schedule: { cron: "0 3 * * *", timezone: "Mars/Olympus" } } } }'), `Producer 'p': schedule.timezone "Mars/Olympus" is not a valid IANA time zone (for example "UTC" or "Europe/Paris")`],
    ['publishes that is not an array', workflow('{ topics: { t: {} }, producers: { p: { handler() {}, schedule: { interval: "1m" }, publishes: "t" } } }'), "Producer 'p': publishes must be an array of topic names, got a string"],
    ['a consumer without subscribe', workflow('{ consumers: { c: { prepare() {} } } }'), "Consumer 'c': subscribe is missing (it must be a non-empty array of topic names)"],
    ['an empty subscribe', workflow('{ consumers: { c: { prepare() {}, subscribe: [] } } }'), "Consumer 'c': subscribe must be a non-empty array of topic names, got an empty array"],
    ['a subscribe with an empty name', workflow('{ topics: { t: {} }, consumers: { c: { prepare() {}, subscribe: ["t", ""] } } }'), "Consumer 'c': subscribe[1] must be a non-empty topic name, got an empty string"],
    ['a subscribe with a non-string', workflow('{ topics: { t: {} }, consumers: { c: { prepare() {}, subscribe: [{ topic: "t" }] } } }'), "Consumer 'c': subscribe[0] must be a non-empty topic name, got an object"],
    ['a consumer without prepare', workflow('{ topics: { t: {} }, consumers: { c: { subscribe: ["t"] } } }'), "Consumer 'c': prepare must be a function, got undefined"],
    ['a mutate that is not a function', workflow(`{ topics: { t: {} }, consumers: { c: { ${okConsumer}, mutate: "send" } } }`), "Consumer 'c': mutate must be a function when present, got a string"],
    ['a next that is not a function', workflow(`{ topics: { t: {} }, consumers: { c: { ${okConsumer}, next: null } } }`), "Consumer 'c': next must be a function when present, got null"],
    ['a subscription to an undeclared topic', VALID.replace('subscribe: ["email.received"]', 'subscribe: ["email.recieved"]'), "Consumer 'reply': subscribes to undeclared topic 'email.recieved'"],
    ['a producer publishing to an undeclared topic', VALID.replace('publishes: ["email.received"]', 'publishes: ["email.sent"]'), "Producer 'pollInbox': publishes to undeclared topic 'email.sent'"],
    ['a consumer publishing to an undeclared topic', VALID.replace('publishes: ["email.replied"]', 'publishes: ["email.bounced"]'), "Consumer 'reply': publishes to undeclared topic 'email.bounced'"],
  ])('rejects %s with a whole message naming the handler and field', async (_, code, expected) => {
    const result = await validate(code)
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.error.code).toBe('invalid_workflow')
    if (typeof expected === 'string') expect(message(result)).toBe(expected)
    else expect(message(result)).toMatch(expected)
  })

  it('checks the rules in the spec order: names before handlers, handlers before topics', async () => {
    const badName = workflow(`{ producers: { p: { handler: 1 } }, consumers: { "bad name": { subscribe: ["nowhere"] } } }`)
    expect(message(await validate(badName))).toMatch(/^Consumer name 'bad name'/)
    const badHandler = workflow(`{ producers: { p: { handler: 1, publishes: ["nowhere"] } } }`)
    expect(message(await validate(badHandler))).toMatch(/^Producer 'p': handler must be a function/)
    const producersFirst = workflow(`{ producers: { p: { handler() {} } }, consumers: { c: { subscribe: [] } } }`)
    expect(message(await validate(producersFirst))).toMatch(/^Producer 'p': schedule is missing/)
  })

  it('fails when top-level code calls a tool, with the line of the call', async () => {
    const code = `const x = 1;\nTopics.publish({ topic: "t" }).catch(() => {});\n${workflow(`{ topics: { t: {} }, consumers: { c: { ${okConsumer} } } }`)}`
    const result = await validate(code)
    expect(result).toEqual({
      ok: false,
      error: {
        code: 'script_error',
        message: 'Top-level code calls Topics.publish at workflow.js:2:15: tools can only be called inside handlers',
        location: { line: 2, column: 15 },
      },
    })
  })

  it('reports a syntax error or a throwing top level with its position', async () => {
    const syntax = await validate('const a = 1;\nconst workflow = { consumers: { c: { prepare() { return a +; } } } };')
    expect(syntax).toMatchObject({ ok: false, error: { code: 'syntax_error', location: { line: 2 } } })
    expect(message(syntax)).toMatch(/^SyntaxError: .* at workflow\.js:2:\d+$/)
    const thrown = await validate('const workflow = { consumers: {} };\nundefinedHelper();')
    expect(thrown).toMatchObject({ ok: false, error: { code: 'script_error', location: { line: 2, column: 1 } } })
    expect(message(thrown)).toMatch(/^ReferenceError: 'undefinedHelper' is not defined/)
  })

  it('reports a getter that throws while the workflow is described as a script error', async () => {
    const result = await validate('const workflow = {\n  get consumers() { throw new Error("lazy") },\n};')
    expect(result).toMatchObject({ ok: false, error: { code: 'script_error', location: { line: 2 } } })
  })

  it('bounds the evaluation of top-level code by its time and memory limits', async () => {
    const looping = await validateWorkflowScript('while (true) {}', { limits: { timeoutMs: 200 } })
    expect(looping).toMatchObject({ ok: false, error: { code: 'sandbox_timeout' } })
    const hungry = await validateWorkflowScript('const a = []; for (;;) a.push(new Array(1e5).fill(0));', { limits: { memoryLimitBytes: 16 * 1024 * 1024 } })
    expect(hungry).toMatchObject({ ok: false, error: { code: 'sandbox_memory' } })
  })

  it('exposes Topics and the given namespaces to top-level code, and nothing else', async () => {
    const code = `const kinds = [typeof Topics.peek, typeof Topics.getByIds, typeof Topics.publish, typeof Email.send, typeof Slack];\n${workflow(`{ topics: { t: {} }, consumers: { c: { ${okConsumer}, kinds } } }`)}`
    const result = await validate(code)
    expect(result.ok).toBe(true)
  })
})

describe('validateWorkflowScript against a hostile top level', () => {
  it('describes the workflow correctly even when the script put setters and species tricks on prototypes', async () => {
    const code = `for (const key of ["name", "kind", "keys", "host", "0", "1", "items", "entries"]) {
  Object.defineProperty(Object.prototype, key, { set() {}, configurable: true });
}
Array.prototype.map = () => [];
const subscribe = ["t"];
subscribe.constructor = { [Symbol.species]: function () { return {}; } };
const workflow = { topics: { t: {} }, consumers: { c: { subscribe, prepare() {} } } };`
    const result = await validate(code)
    expect(result).toMatchObject({ ok: true, config: { topics: ['t'], consumers: [{ name: 'c', subscribe: ['t'] }] } })
  })
})
