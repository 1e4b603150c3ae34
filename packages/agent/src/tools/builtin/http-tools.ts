/**
 * `Http`: built-in tools over Node's global `fetch`. `Http.get` is a read; `Http.post` is a mutation that sends the
 * ledger's idempotency key as an `Idempotency-Key` header, so a server that honours it never acts twice. Responses
 * and failures are classified as in `http-classify.ts`; every request is bounded by a timeout.
 */
import { z } from 'zod'
import { LogicError, PermissionError } from '../../errors.js'
import { type ReconcileResult, type Tool, type ToolContext, defineTool } from '../define-tool.js'
import { classifyFetchFailure, classifyHttpStatus } from './http-classify.js'

/** A request as `reconcile` sees it (after the base URL was applied). */
export interface HttpRequestRecord {
  url: string
  body: unknown
  headers: Record<string, string>
  idempotencyKey: string
}

/**
 * Asks the outside system whether a POST whose outcome is unknown happened, usually by looking its idempotency
 * key up. Answer `applied` (with the result the script should see), `not_applied`, or `unknown`.
 */
export type HttpReconcile = (request: HttpRequestRecord, ctx: ToolContext) => Promise<ReconcileResult>

/** Options of {@link createHttpTools}. */
export interface HttpToolsOptions {
  /** Global name of the tools in scripts. Default `Http`. */
  namespace?: string
  /** Relative URLs in scripts resolve against it, e.g. `http://127.0.0.1:8080/api/`. */
  baseUrl?: string
  /** When set, only these origins (`http://host:port`) may be called; others are a `permission` error. */
  allowedOrigins?: readonly string[]
  /** Headers added to every request (credentials belong here: they are not stored in the ledger). */
  headers?: Record<string, string>
  /** Per-request timeout in ms. Default 10000. */
  timeoutMs?: number
  /** Largest response body read, in bytes. Default 1 MiB. */
  maxResponseBytes?: number
  /** Settles a POST whose outcome is unknown (a timeout, a reset connection, a 5xx). */
  reconcile?: HttpReconcile
  /** The fetch implementation. Default: the global `fetch`. */
  fetch?: typeof fetch
}

/** What `Http.get` and `Http.post` return. */
export interface HttpResponse {
  status: number
  headers: Record<string, string>
  /** Parsed JSON when the response says it is JSON, else text. */
  body: unknown
  /** Set when the body was longer than `maxResponseBytes` and was cut (then it is always text). */
  truncated?: true
}

const headersSchema = z.record(z.string(), z.string()).optional()

/**
 * Creates the `Http` tools: `get({ url, headers? })` and the mutation `post({ url, body?, headers? })`.
 *
 * ### Examples
 * ```ts
 * const http = createHttpTools({
 *   baseUrl: 'https://api.example.com/',
 *   headers: { authorization: `Bearer ${token}` },
 *   async reconcile(request) {
 *     const found = await fetch(`https://api.example.com/deliveries/${request.idempotencyKey}`)
 *     return found.ok ? { status: 'applied', result: await found.json() } : found.status === 404 ? { status: 'not_applied' } : { status: 'unknown' }
 *   },
 * })
 * const engine = createEngine({ db, tools: http })
 * ```
 */
export function createHttpTools(options: HttpToolsOptions = {}): Tool[] {
  const http: HttpConfig = {
    options,
    namespace: options.namespace ?? 'Http',
    timeoutMs: options.timeoutMs ?? 10_000,
    maxBytes: options.maxResponseBytes ?? 1024 * 1024,
    doFetch: options.fetch ?? globalThis.fetch,
    allowed: options.allowedOrigins ? new Set(options.allowedOrigins.map((o) => new URL(o).origin)) : undefined,
  }
  return [getTool(http), postTool(http)]
}

/** {@link HttpToolsOptions} with their defaults applied (and the options themselves, for the rest). */
interface HttpConfig {
  options: HttpToolsOptions
  namespace: string
  timeoutMs: number
  maxBytes: number
  doFetch: typeof fetch
  /** The allowed origins, normalized; undefined: any. */
  allowed: Set<string> | undefined
}

/** The URL a call of `tool` targets: `raw` resolved against the base URL, and checked. */
function target({ options, allowed }: HttpConfig, tool: string, raw: string): URL {
  let url: URL
  try {
    url = new URL(raw, options.baseUrl)
  } catch {
    throw new LogicError(`${tool}: '${raw}' is not a valid URL${options.baseUrl ? '' : ' (use an absolute http or https URL)'}`, { code: 'invalid_url' })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new LogicError(`${tool}: only http and https URLs are allowed, not '${url.protocol}'`, { code: 'invalid_url' })
  }
  if (allowed && !allowed.has(url.origin)) {
    throw new PermissionError(`${tool}: ${url.origin} is not an allowed origin`, { code: 'origin_not_allowed', details: { url: url.href }, notApplied: true })
  }
  return url
}

/** One request of a tool: the tool's id, the URL and what `fetch` sends. */
interface HttpCall {
  tool: string
  url: URL
  init: { method: string; headers: Record<string, string>; body?: string }
}

/** Sends one request, bounded by the timeout; a failed fetch or a failing status throws, classified. */
async function request(http: HttpConfig, { tool, url, init }: HttpCall, ctx: ToolContext): Promise<HttpResponse> {
  const { timeoutMs, maxBytes, doFetch, allowed } = http
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = AbortSignal.any([ctx.signal, timeout])
  let response: Response
  let body: { text: string; truncated: boolean }
  try {
    response = await doFetch(url, { ...init, signal, redirect: allowed ? 'manual' : 'follow' })
    body = await readBody(response, maxBytes)
  } catch (error) {
    throw classifyFetchFailure(error, { tool, url: url.href, timeoutMs, timedOut: timeout.aborted })
  }
  const failure = classifyHttpStatus(response.status, { tool, url: url.href, body: body.text, retryAfter: response.headers.get('retry-after') })
  if (failure) throw failure
  const headers = Object.fromEntries(response.headers)
  if (body.truncated) return { status: response.status, headers, body: body.text, truncated: true }
  const isJson = /[/+]json\b/i.test(response.headers.get('content-type') ?? '')
  return { status: response.status, headers, body: isJson ? parseJson(body.text) : body.text }
}

/** `Http.get({ url, headers? })`. */
function getTool(http: HttpConfig): Tool {
  const { options, namespace, timeoutMs } = http
  return defineTool({
    namespace,
    name: 'get',
    kind: 'read',
    description: 'Sends an HTTP GET and returns { status, headers, body } (body parsed when JSON).',
    input: z.object({ url: z.string(), headers: headersSchema }),
    timeoutMs: timeoutMs + 1000,
    async execute(input, ctx) {
      const tool = `${namespace}.get`
      return request(http, { tool, url: target(http, tool, input.url), init: { method: 'GET', headers: { ...options.headers, ...input.headers } } }, ctx)
    },
  })
}

/** The mutation `Http.post({ url, body?, headers? })`, with its `reconcile` (by `options.reconcile`). */
function postTool(http: HttpConfig): Tool {
  const { options, namespace, timeoutMs } = http
  return defineTool({
    namespace,
    name: 'post',
    kind: 'mutation',
    description: 'Sends an HTTP POST (a JSON body unless body is a string) with an Idempotency-Key header; returns { status, headers, body }.',
    input: z.object({ url: z.string(), body: z.unknown().optional(), headers: headersSchema }),
    title: (input) => `POST ${input.url}`,
    timeoutMs: timeoutMs + 1000,
    async execute(input, ctx) {
      const tool = `${namespace}.post`
      const url = target(http, tool, input.url)
      const headers: Record<string, string> = { ...options.headers, ...input.headers }
      if (ctx.idempotencyKey) headers['idempotency-key'] = ctx.idempotencyKey
      const isText = typeof input.body === 'string'
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['content-type'] = isText ? 'text/plain; charset=utf-8' : 'application/json'
      }
      const body = isText ? (input.body as string) : JSON.stringify(input.body ?? null)
      return request(http, { tool, url, init: { method: 'POST', headers, body } }, ctx)
    },
    async reconcile(input, ctx) {
      if (!options.reconcile || !ctx.idempotencyKey) return { status: 'unknown' }
      const url = target(http, `${namespace}.post`, input.url).href
      return options.reconcile({ url, body: input.body, headers: { ...input.headers }, idempotencyKey: ctx.idempotencyKey }, ctx)
    },
  })
}

function parseJson(text: string): unknown {
  try {
    return text.length === 0 ? null : JSON.parse(text)
  } catch {
    return text
  }
}

/** Reads a response body as text, keeping at most `maxBytes` (the effect of a POST happened either way). */
async function readBody(response: Response, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  if (!response.body) return { text: '', truncated: false }
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (total + value.byteLength > maxBytes) {
      chunks.push(value.subarray(0, maxBytes - total))
      await reader.cancel().catch(() => undefined)
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true }
    }
    total += value.byteLength
    chunks.push(value)
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false }
}
