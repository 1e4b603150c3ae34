import { describe, expect, it } from 'vitest'
import { MINUTE, T0, advanceTo, loopTurns, recordingTool, workerEnv, workerIdle } from '../test-helpers/worker-env.js'

const producer = (schedule: string) => `
const workflow = {
  topics: {},
  producers: { tick: { schedule: ${schedule}, publishes: [], handler: async (s) => { await Feed.get({}); return { n: ((s && s.n) || 0) + 1 } } } },
  consumers: {},
}
`

async function setup(schedule = '{ interval: "5m" }', worker = {}) {
  const feed = recordingTool({ namespace: 'Feed', name: 'get', kind: 'read' })
  const env = await workerEnv({ tools: [feed.tool], worker })
  await env.engine.deployWorkflow({ id: 'wf', title: 'Ticks', code: producer(schedule) })
  const schedule0 = async () => (await env.db.schedules.list('wf'))[0]!
  const sessions = async () => (await env.db.sessions.listByWorkflow('wf')).reverse()
  return { env, feed, schedule: schedule0, sessions }
}

describe('worker: producer schedules', () => {
  it('starts a schedule session for a due producer and persists its next run time', async () => {
    const { env, feed, schedule, sessions } = await setup()
    await using _ = env
    await env.engine.start()
    await workerIdle(env)

    expect((await sessions()).map((s) => [s.trigger, s.status, s.start_timestamp])).toEqual([['schedule', 'completed', T0]])
    expect(feed.calls).toHaveLength(1)
    expect(await schedule()).toMatchObject({ kind: 'interval', expression: '5m', last_run_at: T0, next_run_at: T0 + 5 * MINUTE })
    await env.engine.stop()
  })

  it('runs an interval producer once per interval while the worker runs', async () => {
    const { env, feed, schedule, sessions } = await setup()
    await using _ = env
    await env.engine.start()
    await workerIdle(env)
    for (let i = 1; i <= 3; i++) await advanceTo(env, T0 + i * 5 * MINUTE)

    expect((await sessions()).map((s) => s.start_timestamp)).toEqual([0, 1, 2, 3].map((i) => T0 + i * 5 * MINUTE))
    expect(feed.calls).toHaveLength(4)
    expect(await schedule()).toMatchObject({ last_run_at: T0 + 15 * MINUTE, next_run_at: T0 + 20 * MINUTE })
    expect(await env.db.handlerState.get('wf', 'tick')).toMatchObject({ state: JSON.stringify({ n: 4 }) })
    await env.engine.stop()
  })

  it('coalesces the runs missed while no worker ran into one session', async () => {
    const { env, feed, schedule, sessions } = await setup()
    await using _ = env
    await env.engine.start()
    await workerIdle(env)
    await env.engine.stop()

    await env.clock.advance(10 * 5 * MINUTE) // ten intervals pass with the worker down
    await env.engine.start()
    await workerIdle(env)

    expect((await sessions()).map((s) => [s.trigger, s.start_timestamp])).toEqual([
      ['schedule', T0],
      ['schedule', T0 + 50 * MINUTE],
    ])
    expect(feed.calls).toHaveLength(2)
    expect(await schedule()).toMatchObject({ last_run_at: T0 + 50 * MINUTE, next_run_at: T0 + 55 * MINUTE })
    await env.engine.stop()
  })

  it('runs a cron producer at its wall-clock time in its time zone', async () => {
    const { env, schedule, sessions } = await setup('{ cron: "0 9 * * *", timezone: "America/New_York" }', { idleCheckMs: 24 * 60 * MINUTE })
    await using _ = env
    await env.engine.start()
    await workerIdle(env) // a new producer is due at once
    const nine = Date.parse('2026-01-01T14:00:00Z') // 09:00 EST
    expect(await schedule()).toMatchObject({ kind: 'cron', timezone: 'America/New_York', next_run_at: nine })
    expect(env.clock.nextTimerAt).toBe(nine)

    await advanceTo(env, nine - 1)
    expect(await sessions()).toHaveLength(1)
    await advanceTo(env, nine)
    expect((await sessions()).map((s) => s.start_timestamp)).toEqual([T0, nine])
    expect(await schedule()).toMatchObject({ last_run_at: nine, next_run_at: nine + 24 * 60 * MINUTE })
    await env.engine.stop()
  })

  it('keeps the persisted next run time across a restart of the engine', async () => {
    const { env, schedule, sessions } = await setup()
    await using _ = env
    await env.engine.start()
    await workerIdle(env)
    await env.engine.stop()
    await env.restart()
    await env.clock.advance(2 * MINUTE)
    await env.engine.start()
    await workerIdle(env)

    expect(await sessions()).toHaveLength(1)
    expect(env.clock.nextTimerAt).toBe(T0 + 5 * MINUTE)
    await advanceTo(env, T0 + 5 * MINUTE)
    expect(await sessions()).toHaveLength(2)
    expect((await schedule()).next_run_at).toBe(T0 + 10 * MINUTE)
    await env.engine.stop()
  })
})

describe('worker: sleeping while idle', () => {
  it('sleeps until the next due time without waking in between', async () => {
    const { env, sessions } = await setup('{ interval: "5m" }', { idleCheckMs: 60 * MINUTE })
    await using _ = env
    await env.engine.start()
    await workerIdle(env)
    expect(env.clock.nextTimerAt).toBe(T0 + 5 * MINUTE)

    const turns = loopTurns(env)
    await advanceTo(env, T0 + 5 * MINUTE - 1)
    expect(loopTurns(env)).toBe(turns)
    expect(env.events.count('scheduler:tick')).toBe(1)

    await advanceTo(env, T0 + 5 * MINUTE)
    expect(env.events.list('scheduler:tick')).toEqual([
      { due: 1, started: 1, nextWakeAt: undefined },
      { due: 1, started: 1, nextWakeAt: undefined },
    ])
    expect(await sessions()).toHaveLength(2)
    await env.engine.stop()
  })

  it('wakes only for the idle check while nothing is due', async () => {
    const { env } = await setup('{ interval: "1d" }', { idleCheckMs: MINUTE })
    await using _ = env
    await env.engine.start()
    await workerIdle(env)
    const turns = loopTurns(env)

    for (let i = 1; i <= 10; i++) await advanceTo(env, T0 + i * MINUTE)

    expect(loopTurns(env) - turns).toBe(10)
    expect(env.events.count('scheduler:tick')).toBe(1) // only the first, due turn
    expect(env.events.list('scheduler:tick:empty').at(-1)).toEqual({ nextWakeAt: T0 + 24 * 60 * MINUTE })
    await env.engine.stop()
  })

  it('wakes at once when a workflow is deployed through the same engine', async () => {
    const { env, sessions } = await setup('{ interval: "1h" }')
    await using _ = env
    await env.engine.start()
    await workerIdle(env)
    await env.engine.deployWorkflow({ id: 'wf2', title: 'Second', code: producer('{ interval: "1h" }') })
    await workerIdle(env)

    expect(await sessions()).toHaveLength(1)
    expect((await env.db.sessions.listByWorkflow('wf2')).map((s) => [s.trigger, s.start_timestamp])).toEqual([['schedule', T0]])
    await env.engine.stop()
  })
})
