/**
 * The rules of SPEC §2 over a described `workflow` object, in the spec's order, producing the handler config.
 */
import { cronProblem, intervalMs, intervalProblem, timezoneProblem } from './schedule.js'
import type { ConsumerConfig, HandlerConfig, ProducerConfig, ProducerSchedule, ValidationResult } from './types.js'
import {
  describeKind,
  type ConsumerDescription,
  type ListDescription,
  type ProducerDescription,
  type ScheduleDescription,
  type WorkflowDescription,
} from './workflow-description.js'

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/
const SCHEDULE_EXAMPLE = '{ interval: "5m" } or { cron: "*/5 * * * *" }'
const KNOWN = {
  workflow: new Set(['topics', 'producers', 'consumers']),
  producer: new Set(['handler', 'schedule', 'publishes']),
  consumer: new Set(['subscribe', 'publishes', 'prepare', 'mutate', 'next']),
  schedule: new Set(['interval', 'cron', 'timezone']),
}

/** Stops the checks at the first rule that fails. */
class Invalid {
  constructor(readonly message: string) {}
}

function invalid(message: string): never {
  throw new Invalid(message)
}

/** Warns, under `label`, of each of an object's `keys` that is not a `known` field. */
function warnUnknown({ label, keys, known }: { label: string; keys: readonly string[] | undefined; known: ReadonlySet<string> }, warnings: string[]): void {
  for (const key of keys ?? []) if (!known.has(key)) warnings.push(`${label}: unknown field '${key}' is ignored`)
}

const present = (kind: string | undefined): boolean => kind !== undefined && kind !== 'undefined'

/** A list of topic names to check: `owner`'s `field`, which must be non-empty when `required`. */
interface TopicListField {
  owner: string
  field: string
  list: ListDescription | undefined
  required: boolean
}

/** Checks a list of topic names; duplicates are dropped with a warning. */
function topicList({ owner, field, list, required }: TopicListField, warnings: string[]): string[] {
  const expected = `${required ? 'a non-empty array' : 'an array'} of topic names`
  if (!present(list?.kind)) return required ? invalid(`${owner}: ${field} is missing (it must be ${expected})`) : []
  if (list?.kind !== 'array') return invalid(`${owner}: ${field} must be ${expected}, got ${describeKind(list?.kind ?? 'undefined')}`)
  const items = list.items ?? []
  if (required && items.length === 0) invalid(`${owner}: ${field} must be ${expected}, got an empty array`)
  const names: string[] = []
  items.forEach((item, index) => {
    if (item.kind !== 'string' || item.value === undefined || item.value === '') {
      invalid(`${owner}: ${field}[${index}] must be a non-empty topic name, got ${item.kind === 'string' ? 'an empty string' : describeKind(item.kind)}`)
    }
    if (names.includes(item.value)) warnings.push(`${owner}: ${field} lists '${item.value}' more than once`)
    else names.push(item.value)
  })
  return names
}

function checkSchedule(owner: string, schedule: ScheduleDescription | undefined, warnings: string[]): ProducerSchedule {
  if (!present(schedule?.kind)) invalid(`${owner}: schedule is missing (use ${SCHEDULE_EXAMPLE})`)
  if (schedule?.kind !== 'object') return invalid(`${owner}: schedule must be an object like ${SCHEDULE_EXAMPLE}, got ${describeKind(schedule?.kind ?? '')}`)
  const { interval, cron, timezone } = schedule
  if (present(interval?.kind) && present(cron?.kind)) invalid(`${owner}: schedule has both interval and cron; use one of them`)
  warnUnknown({ label: `${owner}: schedule`, keys: schedule.keys, known: KNOWN.schedule }, warnings)
  if (interval !== undefined && present(interval.kind)) {
    if (interval.kind !== 'string' || interval.value === undefined) {
      invalid(`${owner}: schedule.interval must be a string like "30s" or "5m", got ${describeKind(interval.kind)}`)
    }
    if (intervalMs(interval.value) === undefined) invalid(`${owner}: schedule.interval ${intervalProblem(interval.value)}`)
    if (present(timezone?.kind)) warnings.push(`${owner}: schedule.timezone only applies to cron schedules and is ignored`)
    return { interval: interval.value }
  }
  if (cron === undefined || !present(cron.kind)) {
    return invalid(`${owner}: schedule needs an interval (for example "5m") or a cron expression (for example "*/5 * * * *")`)
  }
  if (cron.kind !== 'string' || cron.value === undefined) {
    return invalid(`${owner}: schedule.cron must be a string like "*/5 * * * *", got ${describeKind(cron.kind)}`)
  }
  const problem = cronProblem(cron.value)
  if (problem !== undefined) invalid(`${owner}: schedule.cron ${problem}`)
  if (timezone === undefined || !present(timezone.kind)) return { cron: cron.value }
  if (timezone.kind !== 'string' || timezone.value === undefined) {
    return invalid(`${owner}: schedule.timezone must be a string like "UTC" or "Europe/Paris", got ${describeKind(timezone.kind)}`)
  }
  const zoneProblem = timezoneProblem(timezone.value)
  if (zoneProblem !== undefined) invalid(`${owner}: schedule.timezone ${zoneProblem}`)
  return { cron: cron.value, timezone: timezone.value }
}

function checkProducer(producer: ProducerDescription, warnings: string[]): ProducerConfig {
  const owner = `Producer '${producer.name}'`
  if (producer.kind !== 'object') invalid(`${owner} must be an object with a handler and a schedule, got ${describeKind(producer.kind)}`)
  if (producer.handler !== 'function') invalid(`${owner}: handler must be a function, got ${describeKind(producer.handler ?? 'undefined')}`)
  const schedule = checkSchedule(owner, producer.schedule, warnings)
  const publishes = topicList({ owner, field: 'publishes', list: producer.publishes, required: false }, warnings)
  warnUnknown({ label: owner, keys: producer.keys, known: KNOWN.producer }, warnings)
  return { name: producer.name, schedule, publishes }
}

function checkConsumer(consumer: ConsumerDescription, warnings: string[]): ConsumerConfig {
  const owner = `Consumer '${consumer.name}'`
  if (consumer.kind !== 'object') invalid(`${owner} must be an object with subscribe and prepare, got ${describeKind(consumer.kind)}`)
  const subscribe = topicList({ owner, field: 'subscribe', list: consumer.subscribe, required: true }, warnings)
  if (consumer.prepare !== 'function') invalid(`${owner}: prepare must be a function, got ${describeKind(consumer.prepare ?? 'undefined')}`)
  for (const field of ['mutate', 'next'] as const) {
    const kind = consumer[field] ?? 'undefined'
    if (present(kind) && kind !== 'function') invalid(`${owner}: ${field} must be a function when present, got ${describeKind(kind)}`)
  }
  const publishes = topicList({ owner, field: 'publishes', list: consumer.publishes, required: false }, warnings)
  if (publishes.length > 0 && consumer.next !== 'function') {
    warnings.push(`${owner}: publishes is declared, but only next may publish and there is no next`)
  }
  warnUnknown({ label: owner, keys: consumer.keys, known: KNOWN.consumer }, warnings)
  return { name: consumer.name, subscribe, publishes, hasMutate: consumer.mutate === 'function', hasNext: consumer.next === 'function' }
}

function checkShape(workflow: WorkflowDescription, warnings: string[]): void {
  if (workflow.kind === 'undefined') {
    invalid('The script does not define workflow: declare a top-level const workflow = { topics, producers, consumers }')
  }
  if (workflow.kind !== 'object') invalid(`workflow must be an object, got ${describeKind(workflow.kind)}`)
  const groups = [
    ['workflow.topics', workflow.topics?.kind, 'an object of topic names, for example { "email.received": {} }'],
    ['workflow.producers', workflow.producers?.kind, 'an object of named producers'],
    ['workflow.consumers', workflow.consumers?.kind, 'an object of named consumers'],
  ] as const
  for (const [label, kind, expected] of groups) {
    if (present(kind) && kind !== 'object') invalid(`${label} must be ${expected}, got ${describeKind(kind ?? '')}`)
  }
  warnUnknown({ label: 'workflow', keys: workflow.keys, known: KNOWN.workflow }, warnings)
}

function checkNames(workflow: WorkflowDescription, topics: readonly string[]): void {
  const producers = workflow.producers?.entries ?? []
  const consumers = workflow.consumers?.entries ?? []
  for (const [label, entries] of [['Producer', producers], ['Consumer', consumers]] as const) {
    for (const { name } of entries) {
      if (!IDENTIFIER.test(name)) {
        invalid(`${label} name '${name}' is not a valid identifier (use letters, digits, _ and $, not starting with a digit)`)
      }
    }
  }
  // Handler state is keyed by handler name, so a producer and a consumer cannot share one.
  const shared = producers.find((p) => consumers.some((c) => c.name === p.name))
  if (shared !== undefined) invalid(`Handler name '${shared.name}' is used by both a producer and a consumer; handler names must be unique`)
  if (topics.includes('')) invalid('Topic names must not be empty')
}

function checkTopicsDeclared(topics: readonly string[], producers: ProducerConfig[], consumers: ConsumerConfig[]): void {
  const declared = new Set(topics)
  for (const producer of producers) {
    for (const topic of producer.publishes) {
      if (!declared.has(topic)) invalid(`Producer '${producer.name}': publishes to undeclared topic '${topic}'`)
    }
  }
  for (const consumer of consumers) {
    for (const topic of consumer.subscribe) {
      if (!declared.has(topic)) invalid(`Consumer '${consumer.name}': subscribes to undeclared topic '${topic}'`)
    }
    for (const topic of consumer.publishes) {
      if (!declared.has(topic)) invalid(`Consumer '${consumer.name}': publishes to undeclared topic '${topic}'`)
    }
  }
}

/**
 * Checks a described `workflow` against the rules of SPEC §2, in the spec's order, and extracts its handler config.
 * Reads the clock (a cron expression must match a future time); otherwise pure.
 */
export function checkWorkflow(workflow: WorkflowDescription): ValidationResult {
  const warnings: string[] = []
  try {
    checkShape(workflow, warnings)
    const topics = (workflow.topics?.entries ?? []).map((topic) => topic.name)
    const producerEntries = workflow.producers?.entries ?? []
    const consumerEntries = workflow.consumers?.entries ?? []
    if (producerEntries.length + consumerEntries.length === 0) {
      invalid('The workflow must declare at least one producer or consumer (workflow.producers and workflow.consumers are missing or empty)')
    }
    checkNames(workflow, topics)
    const producers = producerEntries.map((producer) => checkProducer(producer, warnings))
    const consumers = consumerEntries.map((consumer) => checkConsumer(consumer, warnings))
    checkTopicsDeclared(topics, producers, consumers)
    const subscribed = new Set(consumers.flatMap((consumer) => consumer.subscribe))
    for (const topic of topics) {
      if (!subscribed.has(topic)) warnings.push(`Topic '${topic}' is declared but no consumer subscribes to it`)
    }
    const config: HandlerConfig = { topics, producers, consumers }
    return { ok: true, config, warnings }
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, error: { code: 'invalid_workflow', message: error.message } }
    throw error
  }
}
