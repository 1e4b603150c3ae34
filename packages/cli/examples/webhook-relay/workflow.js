// Webhook relay. The producer polls a "source" endpoint for items after its cursor and publishes each as an event
// keyed by the item id. The consumer POSTs each item to a "sink"; the Http tool sends the ledger's idempotency key
// as an Idempotency-Key header, so even a delivery whose answer was lost is never applied twice.
// URLs are relative: the host resolves them against the base URL it gives the Http tools.
const workflow = {
  topics: { "source.item": {} },
  producers: {
    pollSource: {
      schedule: { interval: "30s" },
      publishes: ["source.item"],
      handler: async (state) => {
        const after = (state && state.cursor) || 0
        const response = await Http.get({ url: `source/items?after=${after}` })
        for (const item of response.body.items) {
          await Topics.publish({
            topic: "source.item",
            event: { messageId: `item-${item.id}`, title: item.subject, payload: item },
          })
        }
        return { cursor: response.body.cursor }
      },
    },
  },
  consumers: {
    relay: {
      subscribe: ["source.item"],
      prepare: async () => {
        const [event] = await Topics.peek({ topic: "source.item", limit: 1 })
        if (!event) return { reservations: [] }
        return {
          reservations: [{ topic: "source.item", ids: [event.messageId] }],
          data: { item: event.payload },
          ui: { title: `Relay "${event.title}"` },
        }
      },
      mutate: async (prepared) => {
        const { id, subject, body } = prepared.data.item
        await Http.post({ url: "sink/deliveries", body: { sourceId: id, subject, body } })
      },
      next: async (prepared, mutation) => {
        if (mutation.status === "applied") console.log(`delivered item ${prepared.data.item.id} as ${mutation.result.body.deliveryId}`)
      },
    },
  },
}
