/**
 * Zod schemas at the engine's trust boundaries: values returned by scripts (from the sandbox) and JSON read back
 * from the database. Each parse failure becomes a classified error naming what was wrong and where.
 */
import { z } from 'zod'

const IDENT = /^[A-Za-z_$][\w$]*$/

/** The handler config stored with each script version (produced by `validateWorkflowScript`). */
export const handlerConfigSchema = z.object({
  topics: z.array(z.string()),
  producers: z.array(
    z.object({
      name: z.string().regex(IDENT),
      schedule: z.union([z.object({ interval: z.string() }), z.object({ cron: z.string(), timezone: z.string().optional() })]),
      publishes: z.array(z.string()),
    }),
  ),
  consumers: z.array(
    z.object({
      name: z.string().regex(IDENT),
      subscribe: z.array(z.string()).min(1),
      publishes: z.array(z.string()),
      hasMutate: z.boolean(),
      hasNext: z.boolean(),
    }),
  ),
})

/** A parsed handler config. */
export type HandlerConfig = z.infer<typeof handlerConfigSchema>

/** What `prepare` must return. */
export const prepareResultSchema = z.object({
  reservations: z.array(
    z.object({
      topic: z.string().min(1),
      ids: z.array(z.string().min(1)),
    }),
  ),
  data: z.unknown().optional(),
  ui: z.object({ title: z.string().optional() }).passthrough().optional(),
  /** When to be woken even without new events: epoch ms or an ISO date string. */
  wakeAt: z.union([z.number().finite(), z.string()]).optional(),
})

/** A validated prepare result. */
export type PrepareResult = z.infer<typeof prepareResultSchema>

/** A serialized error as stored in JSON columns. */
export const serializedErrorSchema = z.object({
  name: z.string(),
  message: z.string(),
  code: z.string(),
  type: z.enum(['auth', 'permission', 'network', 'logic', 'internal', 'indeterminate']),
  retryable: z.boolean(),
  notApplied: z.boolean().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
})

/** `Topics.peek` input. */
export const peekInputSchema = z.object({ topic: z.string().min(1), limit: z.number().int().min(1).max(1000).optional() })
/** `Topics.getByIds` input. */
export const getByIdsInputSchema = z.object({ topic: z.string().min(1), ids: z.array(z.string().min(1)).max(1000) })
/** `Topics.publish` input. */
export const publishInputSchema = z.object({
  topic: z.string().min(1),
  event: z.object({
    messageId: z.string().min(1).max(512),
    title: z.string().max(1000).optional(),
    payload: z.unknown().optional(),
  }),
})

/** Formats zod issues as one readable line: `path: message; path: message`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(value)'}: ${issue.message}`)
    .join('; ')
}
