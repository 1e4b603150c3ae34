import { type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHttpTools } from './http-tools.js'
import { call, pick, reconcile, toolContext } from './test-helpers/tool-context.js'

let server: Server
let base: string
const received: Array<{ method: string; url: string; headers: Record<string, unknown>; body: string }> = []

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      const status = /^\/status\/(\d+)$/.exec(req.url ?? '')
      if (status) {
        res.writeHead(Number(status[1]), { 'content-type': 'text/plain', 'retry-after': '7' }).end(`status ${status[1]}`)
      } else if (req.url === '/reset') {
        req.socket.destroy()
      } else if (req.url === '/hang') {
        // never answers
      } else if (req.url === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('plain words')
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: { method: req.method, body: body || null } }))
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

/** A port nothing listens on: bind one, then release it. */
async function closedPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise((resolve) => s.close(resolve))
  return port
}

describe('Http.get', () => {
  it('returns status, headers and the parsed JSON body', async () => {
    const result = await call(pick(createHttpTools(), 'get'), { url: `${base}/ok` }, toolContext({ phase: 'producer' }))
    expect(result).toMatchObject({ status: 200, headers: { 'content-type': 'application/json' }, body: { echo: { method: 'GET', body: null } } })
  })

  it('returns a text body as a string and resolves relative URLs against the base URL', async () => {
    const result = await call(pick(createHttpTools({ baseUrl: `${base}/` }), 'get'), { url: 'text' })
    expect(result).toMatchObject({ status: 200, body: 'plain words' })
  })

  it('refuses an origin outside the allowed list with a permission error', async () => {
    const get = pick(createHttpTools({ allowedOrigins: ['http://127.0.0.1:1'] }), 'get')
    await expect(call(get, { url: `${base}/ok` })).rejects.toMatchObject({ type: 'permission', code: 'origin_not_allowed' })
  })

  it('refuses a URL that is not http or https as a logic error', async () => {
    await expect(call(pick(createHttpTools(), 'get'), { url: 'file:///etc/passwd' })).rejects.toMatchObject({ type: 'logic', code: 'invalid_url' })
  })
})

describe('Http error classification', () => {
  it.each([
    [500, 'network', 'http_server_error', false],
    [503, 'network', 'http_server_error', false],
    [429, 'network', 'http_rate_limited', true],
    [401, 'auth', 'http_unauthorized', true],
    [403, 'permission', 'http_forbidden', true],
    [404, 'logic', 'http_client_error', true],
    [422, 'logic', 'http_client_error', true],
  ])('classifies a %i answer as %s (%s, notApplied %s)', async (status, type, code, notApplied) => {
    const error = await call(pick(createHttpTools(), 'post'), { url: `${base}/status/${status}`, body: {} }, toolContext({ idempotencyKey: 'k' })).catch((e: unknown) => e)
    expect(error).toMatchObject({ type, code, notApplied })
  })

  it('keeps the Retry-After header of a rate-limited answer in the error details', async () => {
    const error = await call(pick(createHttpTools(), 'get'), { url: `${base}/status/429` }).catch((e: unknown) => e)
    expect(error).toMatchObject({ details: { status: 429, retryAfter: '7' } })
  })

  it('classifies a refused connection as a network error that did not apply', async () => {
    const error = await call(pick(createHttpTools(), 'post'), { url: `http://127.0.0.1:${await closedPort()}/x`, body: 1 }).catch((e: unknown) => e)
    expect(error).toMatchObject({ type: 'network', code: 'http_unreachable', notApplied: true })
  })

  it('classifies a reset connection as a network error with an unknown outcome', async () => {
    const error = await call(pick(createHttpTools(), 'post'), { url: `${base}/reset`, body: 1 }).catch((e: unknown) => e)
    expect(error).toMatchObject({ type: 'network', code: 'http_connection_lost', notApplied: false })
  })

  it('classifies a timeout as a network error with an unknown outcome', async () => {
    const error = await call(pick(createHttpTools({ timeoutMs: 50 }), 'post'), { url: `${base}/hang`, body: 1 }).catch((e: unknown) => e)
    expect(error).toMatchObject({ type: 'network', code: 'http_timeout', notApplied: false })
  })
})

describe('Http.post', () => {
  it('sends the ledger idempotency key as an Idempotency-Key header with a JSON body', async () => {
    const result = await call(pick(createHttpTools({ headers: { authorization: 'Bearer t' } }), 'post'), { url: `${base}/deliver`, body: { a: 1 } }, toolContext({ idempotencyKey: 'lf-mut_42' }))
    expect(result).toMatchObject({ status: 200, body: { echo: { method: 'POST', body: '{"a":1}' } } })
    const request = received.findLast((r) => r.url === '/deliver')
    expect(request?.headers).toMatchObject({ 'idempotency-key': 'lf-mut_42', 'content-type': 'application/json', authorization: 'Bearer t' })
  })

  it('reconciles through the host lookup with the resolved URL and the key', async () => {
    const seen: unknown[] = []
    const post = pick(
      createHttpTools({
        baseUrl: `${base}/`,
        reconcile: async (request) => {
          seen.push(request)
          return { status: 'applied', result: { found: request.idempotencyKey } }
        },
      }),
      'post',
    )
    const answer = await reconcile(post, { url: 'deliver', body: { a: 1 } }, toolContext({ phase: 'reconcile', idempotencyKey: 'lf-mut_7' }))
    expect(answer).toEqual({ status: 'applied', result: { found: 'lf-mut_7' } })
    expect(seen).toEqual([{ url: `${base}/deliver`, body: { a: 1 }, headers: {}, idempotencyKey: 'lf-mut_7' }])
  })

  it('answers unknown to reconcile when no lookup is configured', async () => {
    expect(await reconcile(pick(createHttpTools(), 'post'), { url: `${base}/x` }, toolContext({ idempotencyKey: 'k' }))).toEqual({ status: 'unknown' })
  })
})
