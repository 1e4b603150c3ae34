// The local "outside world" of the webhook relay example: a source of items and a sink that deduplicates
// deliveries by their Idempotency-Key header. Both run on one node:http server on 127.0.0.1 (never the internet).
import { createServer } from 'node:http'

/**
 * Starts the source and the sink. `items` can grow while it runs (`addItem`). `dropNextAnswer()` makes the sink
 * store the next delivery and then cut the connection without answering, as a network failure after the effect.
 */
export async function startServers() {
  const items = []
  const deliveries = new Map() // idempotency key -> delivery
  const posts = [] // every POST the sink received, in order
  let dropNext = false

  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (chunk) => (text += chunk))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://local')
      const send = (status, value) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value))
      if (req.method === 'GET' && url.pathname === '/source/items') {
        const after = Number(url.searchParams.get('after') ?? 0)
        const page = items.filter((i) => i.id > after)
        return send(200, { items: page, cursor: page.length ? page[page.length - 1].id : after })
      }
      if (req.method === 'POST' && url.pathname === '/sink/deliveries') {
        const key = req.headers['idempotency-key']
        if (typeof key !== 'string') return send(400, { error: 'Idempotency-Key header required' })
        posts.push(key)
        let delivery = deliveries.get(key)
        const duplicate = Boolean(delivery)
        if (!delivery) {
          delivery = { deliveryId: `d-${deliveries.size + 1}`, key, ...JSON.parse(text || 'null') }
          deliveries.set(key, delivery)
        }
        if (dropNext) {
          dropNext = false
          return req.socket.destroy() // the delivery is stored, but the answer is lost
        }
        return send(duplicate ? 200 : 201, { deliveryId: delivery.deliveryId, duplicate })
      }
      const lookup = /^\/sink\/deliveries\/(.+)$/.exec(url.pathname)
      if (req.method === 'GET' && lookup) {
        const delivery = deliveries.get(decodeURIComponent(lookup[1]))
        return delivery ? send(200, { deliveryId: delivery.deliveryId, duplicate: false }) : send(404, { error: 'no such delivery' })
      }
      send(404, { error: 'not found' })
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    baseUrl: `http://127.0.0.1:${port}/`,
    addItem: (subject, body) => items.push({ id: items.length + 1, subject, body }),
    dropNextAnswer: () => (dropNext = true),
    deliveries,
    posts,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
