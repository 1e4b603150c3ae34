#!/usr/bin/env node
/**
 * `pnpm --filter @ledgerflow/tests crash -- --trials N --seed S [--trial K] [--kills-per-trial K] [--jobs J]
 * [--timed F] [--driver session|worker|mixed] [--keep] [--dir D] [--no-bundle] [--json] [--verbose]`: runs a crash campaign, prints progress, a summary and the per crash
 * point coverage, and exits non-zero on any violation. `--trial K` replays one trial of the seed exactly.
 */
import { parseArgs } from 'node:util'
import { type CampaignSummary, runCampaign } from './run-campaign.js'
import { DEFAULT_SIZE } from './scenario.js'

function number(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got '${value}'`)
  return n
}

function driverOf(value: string): 'session' | 'worker' | 'mixed' {
  if (value === 'session' || value === 'worker' || value === 'mixed') return value
  throw new Error(`--driver must be session, worker or mixed, got '${value}'`)
}

/** Formats a summary for people. Pure. */
export function formatSummary(s: CampaignSummary): string {
  const lines = [
    `crash campaign: seed ${s.seed}, ${s.trials} trials, ${s.kills} kills (${s.killsBy.hit} at a random crash-point hit, ${s.killsBy.target} at a targeted crash point, ${s.killsBy.timed} by the clock), ${s.recoveries} recoveries (${s.sessionsResumed} sessions resumed), operator: ${s.operator.resolved} resolutions, ${s.operator.resumed} resumes, ${s.violations.length} violations (${s.violations.filter((v) => v.trial < 0).length} of them crash points never killed at), ${(s.durationMs / 1000).toFixed(1)} s`,
    'kills per crash point:',
    ...Object.entries(s.coverage)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `  ${k.padEnd(40)} ${n}`),
  ]
  if (s.missing.length > 0) lines.push(`never killed at: ${s.missing.join(', ')}`)
  for (const v of s.violations.slice(0, 50)) lines.push(`VIOLATION${v.trial >= 0 ? ` (trial ${v.trial}, replay: --seed ${s.seed} --trial ${v.trial})` : ''}: ${v.message}`)
  if (s.kept.length > 0) lines.push(`kept for inspection: ${s.kept.join(' ')}`)
  return lines.join('\n')
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      trials: { type: 'string' },
      seed: { type: 'string' },
      trial: { type: 'string' },
      'kills-per-trial': { type: 'string' },
      jobs: { type: 'string' },
      timed: { type: 'string' },
      workflows: { type: 'string' },
      items: { type: 'string' },
      keep: { type: 'boolean' },
      'no-bundle': { type: 'boolean' },
      driver: { type: 'string' },
      dir: { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
    },
  })
  const seed = number(values.seed, 'seed', Date.now() % 1_000_000)
  const summary = await runCampaign({
    seed,
    trials: number(values.trials, 'trials', 10),
    ...(values.trial !== undefined ? { only: number(values.trial, 'trial', 0) } : {}),
    killsPerTrial: number(values['kills-per-trial'], 'kills-per-trial', 25),
    jobs: number(values.jobs, 'jobs', 2),
    ...(values.timed !== undefined ? { timedFraction: Number(values.timed) } : {}),
    size: { ...DEFAULT_SIZE, workflows: number(values.workflows, 'workflows', DEFAULT_SIZE.workflows), items: number(values.items, 'items', DEFAULT_SIZE.items) },
    keep: values.keep ?? false,
    bundle: !values['no-bundle'],
    verbose: values.verbose ?? false,
    ...(values.driver ? { driver: driverOf(values.driver) } : {}),
    ...(values.dir ? { workDir: values.dir } : {}),
    log: (line) => console.log(line),
  })
  console.log(formatSummary(summary))
  if (values.json) console.log(JSON.stringify(summary))
  return summary.violations.length > 0 ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error))
    process.exit(2)
  },
)
