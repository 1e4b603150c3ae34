/**
 * The shape of the `workflow` object as the guest prelude's `describe` reports it (a trust boundary: it is parsed
 * with zod before any rule looks at it). `kind` is `typeof`, with `'null'` and `'array'` told apart.
 */
import { z } from 'zod'

const item = z.object({ kind: z.string(), value: z.string().optional() })
const list = z.object({ kind: z.string(), items: z.array(item).optional() })
const entryBase = { name: z.string(), kind: z.string(), keys: z.array(z.string()).optional() }

const schedule = z.object({
  kind: z.string(),
  keys: z.array(z.string()).optional(),
  interval: item.optional(),
  cron: item.optional(),
  timezone: item.optional(),
})

const producer = z.object({
  ...entryBase,
  handler: z.string().optional(),
  schedule: schedule.optional(),
  publishes: list.optional(),
})

const consumer = z.object({
  ...entryBase,
  subscribe: list.optional(),
  publishes: list.optional(),
  prepare: z.string().optional(),
  mutate: z.string().optional(),
  next: z.string().optional(),
})

const group = <T extends z.ZodType>(entry: T) => z.object({ kind: z.string(), entries: z.array(entry).optional() })

/** Schema of the description of `workflow`. */
export const workflowDescriptionSchema = z.object({
  kind: z.string(),
  keys: z.array(z.string()).optional(),
  topics: group(z.object(entryBase)).optional(),
  producers: group(producer).optional(),
  consumers: group(consumer).optional(),
})

/** The description of `workflow`. */
export type WorkflowDescription = z.infer<typeof workflowDescriptionSchema>
/** A described producer. */
export type ProducerDescription = z.infer<typeof producer>
/** A described consumer. */
export type ConsumerDescription = z.infer<typeof consumer>
/** A described array (of topic names). */
export type ListDescription = z.infer<typeof list>
/** A described schedule. */
export type ScheduleDescription = z.infer<typeof schedule>

/** Pure; `a string`, `an array`, `null`, `undefined`, ... for messages. */
export function describeKind(kind: string): string {
  if (kind === 'null' || kind === 'undefined') return kind
  if (kind === 'empty array') return 'an empty array'
  return /^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`
}
