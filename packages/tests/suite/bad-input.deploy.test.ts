/**
 * Bad input at deploy time (SPEC §2, §13.6): every malformed script is refused with a `WorkflowValidationError`
 * (type `logic`) whose whole message names what is wrong, nothing is written, and the version already deployed —
 * with the events, state and ledger it committed — is untouched.
 */
import { describe, expect, it } from 'vitest'
import { checkInvariants } from '../src/kit/index.js'
import { GOOD, badInputEnv, committed } from './bad-input.helpers.js'

const producer = (fields: string) => `const workflow = { topics: { t: {} }, producers: { p: { ${fields} } }, consumers: { c: { subscribe: ["t"], prepare: async () => ({ reservations: [] }) } } };`
const consumer = (fields: string, topics = '{ t: {} }') => `const workflow = { topics: ${topics}, consumers: { c: { ${fields} } } };`
const matching = (m: string | RegExp) => (typeof m === 'string' ? expect.stringContaining(m) : expect.stringMatching(m))
const HANDLER = 'handler: async () => ({})'
const PREPARE = 'prepare: async () => ({ reservations: [] })'

/** [what, code, a part of the message]. */
const MALFORMED: Array<[string, string, string | RegExp]> = [
  ['a syntax error', 'const workflow = {\n  topics: {},\n  producers: { p: { handler: async () => { return 1 +; } } },\n}', 'SyntaxError'],
  ['no workflow', 'const notWorkflow = {}', 'does not define workflow'],
  ['a workflow that is not an object', 'const workflow = 42', 'workflow must be an object, got a number'],
  ['no producer and no consumer', 'const workflow = { topics: {}, producers: {}, consumers: {} }', 'at least one producer or consumer'],
  ['a handler name that is not an identifier', producer(`schedule: { interval: "5m" }, ${HANDLER}`).replace('p: {', '"bad-name": {'), "Producer name 'bad-name' is not a valid identifier"],
  ['a producer without handler', producer('schedule: { interval: "5m" }'), "Producer 'p': handler must be a function, got undefined"],
  ['a handler of the wrong type', producer('schedule: { interval: "5m" }, handler: "run"'), "Producer 'p': handler must be a function, got a string"],
  ['an invalid interval', producer(`schedule: { interval: "5 minutes" }, ${HANDLER}`), 'schedule.interval "5 minutes" is not a valid interval'],
  ['an interval under one second', producer(`schedule: { interval: "0s" }, ${HANDLER}`), 'the minimum is 1s'],
  ['an invalid cron expression', producer(`schedule: { cron: "61 * * * *" }, ${HANDLER}`), 'schedule.cron "61 * * * *" is not a valid cron expression'],
  ['an unknown time zone', producer(`schedule: { cron: "0 * * * *", timezone: "Mars/Base" }, ${HANDLER}`), 'schedule.timezone "Mars/Base" is not a valid IANA time zone'],
  ['a publish to an undeclared topic', producer(`schedule: { interval: "5m" }, publishes: ["nope"], ${HANDLER}`), "Producer 'p': publishes to undeclared topic 'nope'"],
  ['a subscription to an undeclared topic', consumer(`subscribe: ["nope"], ${PREPARE}`), "Consumer 'c': subscribes to undeclared topic 'nope'"],
  ['an empty subscription', consumer(`subscribe: [], ${PREPARE}`), "Consumer 'c': subscribe must be a non-empty array of topic names, got an empty array"],
  ['a subscription of the wrong type', consumer(`subscribe: "t", ${PREPARE}`), "Consumer 'c': subscribe must be a non-empty array of topic names, got a string"],
  ['a consumer without prepare', consumer('subscribe: ["t"]'), "Consumer 'c': prepare must be a function, got undefined"],
  ['a mutate that is not a function', consumer(`subscribe: ["t"], ${PREPARE}, mutate: 3`), "Consumer 'c': mutate must be a function when present, got a number"],
  ['a tool call in top-level code', `Topics.publish({ topic: "t", event: { messageId: "1" } })\n${consumer(`subscribe: ["t"], ${PREPARE}`)}`, 'Top-level code calls Topics.publish at workflow.js:1:'],
  ['top-level code that throws', `throw new Error("boom at top")\n${consumer(`subscribe: ["t"], ${PREPARE}`)}`, 'boom at top at workflow.js:1:'],
  // The CPU deadline, or on a machine too busy to give it that CPU, the wall-clock bound.
  ['top-level code that never ends', `while (true) {}\n${consumer(`subscribe: ["t"], ${PREPARE}`)}`, /ms of CPU time|did not finish within/],
]

describe('deploying a malformed script', () => {
  it.each(MALFORMED)('refuses %s with a classified error and keeps the deployed version and its data', async (_what, code, message) => {
    await using env = await badInputEnv()
    const before = await committed(env.db, 'bystander')

    const over = env.engine.deployWorkflow({ id: 'bystander', title: 'Bystander', code })
    await expect(over).rejects.toMatchObject({ name: 'WorkflowValidationError', type: 'logic', code: 'workflow_invalid', message: matching(message) })
    const fresh = env.engine.deployWorkflow({ id: 'fresh', title: 'Fresh', code })
    await expect(fresh).rejects.toMatchObject({ name: 'WorkflowValidationError', message: matching(message) })

    expect(await committed(env.db, 'bystander')).toEqual(before)
    expect(await env.db.workflows.get('fresh')).toBeUndefined()
    expect(await env.db.kysely.selectFrom('scripts').select('id').where('workflow_id', '=', 'fresh').execute()).toEqual([])
    expect(await checkInvariants(env.db)).toEqual([])
  })

  it('gives the line and column of a syntax error in the script', async () => {
    await using env = await badInputEnv()
    const code = 'const workflow = {\n  topics: {},\n  producers: { p: { handler: async () => { return 1 +; } } },\n}'
    await expect(env.engine.deployWorkflow({ id: 'x', title: 'X', code })).rejects.toMatchObject({
      message: expect.stringMatching(/workflow\.js:3:\d+/),
      location: { line: 3, column: expect.any(Number) },
    })
  })

  it('refuses an empty title and an invalid workflow id before validating anything', async () => {
    await using env = await badInputEnv()
    await expect(env.engine.deployWorkflow({ id: 'ok', title: '  ', code: GOOD })).rejects.toMatchObject({ type: 'logic', code: 'invalid_title' })
    await expect(env.engine.deployWorkflow({ id: '../etc', title: 'T', code: GOOD })).rejects.toMatchObject({ type: 'logic', code: 'invalid_workflow_id' })
    expect(await env.db.workflows.get('ok')).toBeUndefined()
  })

  it('deploys a script with a declared topic nobody subscribes to, with a warning', async () => {
    await using env = await badInputEnv()
    const code = consumer(`subscribe: ["t"], ${PREPARE}`, '{ t: {}, unused: {} }')
    const result = await env.engine.deployWorkflow({ id: 'warned', title: 'Warned', code })
    expect(result.warnings).toEqual(["Topic 'unused' is declared but no consumer subscribes to it"])
  })
})
