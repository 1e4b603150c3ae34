/**
 * How HTTP outcomes map to the engine's error classes (SPEC §8). Pure; the table is the contract:
 *
 * | outcome                                      | class        | `notApplied` (mutation did not happen) |
 * |----------------------------------------------|--------------|----------------------------------------|
 * | connection refused, DNS failure              | `network`    | yes: nothing reached the server        |
 * | connection reset, socket closed, timeout     | `network`    | no: the server may have acted          |
 * | 5xx                                          | `network`    | no                                     |
 * | 429                                          | `network`    | yes: rate limited, not processed       |
 * | 401                                          | `auth`       | yes                                    |
 * | 403                                          | `permission` | yes                                    |
 * | other 4xx                                    | `logic`      | yes                                    |
 */
import { AuthError, type EngineError, LogicError, NetworkError, PermissionError } from '../../errors.js'

/** Connection-level error codes that prove the request never reached the server. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'])

/** The error for an HTTP response with a status of 400 or more (`undefined` below 400). Pure. */
export function classifyHttpStatus(status: number, context: { tool: string; url: string; body?: string; retryAfter?: string | null }): EngineError | undefined {
  if (status < 400) return undefined
  const excerpt = context.body ? `: ${context.body.length > 200 ? `${context.body.slice(0, 200)}…` : context.body}` : ''
  const message = `${context.tool} ${context.url} answered ${status}${excerpt}`
  const details = { status, url: context.url, ...(context.retryAfter ? { retryAfter: context.retryAfter } : {}) }
  if (status === 401) return new AuthError(message, { code: 'http_unauthorized', details, notApplied: true })
  if (status === 403) return new PermissionError(message, { code: 'http_forbidden', details, notApplied: true })
  if (status === 429) return new NetworkError(message, { code: 'http_rate_limited', details, notApplied: true })
  if (status >= 500) return new NetworkError(message, { code: 'http_server_error', details })
  return new LogicError(message, { code: 'http_client_error', details, notApplied: true })
}

/** The error for a request that got no response: refused, reset, timed out, aborted. Pure. */
export function classifyFetchFailure(error: unknown, context: { tool: string; url: string; timeoutMs: number; timedOut: boolean }): EngineError {
  const cause = (error as { cause?: unknown })?.cause as { code?: unknown; message?: unknown } | undefined
  const code = typeof cause?.code === 'string' ? cause.code : typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined
  const details = { url: context.url, ...(code ? { cause: code } : {}) }
  if (context.timedOut) {
    return new NetworkError(`${context.tool} ${context.url} timed out after ${context.timeoutMs} ms`, { code: 'http_timeout', details })
  }
  const reason = typeof cause?.message === 'string' && cause.message ? cause.message : (error as Error)?.message ?? String(error)
  if (code && NOT_SENT.has(code)) {
    return new NetworkError(`${context.tool} ${context.url} could not connect: ${reason}`, { code: 'http_unreachable', details, notApplied: true })
  }
  return new NetworkError(`${context.tool} ${context.url} failed: ${reason}`, { code: 'http_connection_lost', details })
}
