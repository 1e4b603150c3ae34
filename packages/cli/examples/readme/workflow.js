// Order announcements: every order file in orders/ is announced once in the #sales chat.
const workflow = {
  topics: { "order.received": {} },
  producers: {
    pollOrders: {
      schedule: { interval: "5m" },
      publishes: ["order.received"],
      // Producers read the outside world and publish events; they never change it.
      handler: async (state) => {
        const files = await Files.list({ dir: "orders", pattern: "*.json" })
        for (const file of files) {
          const order = JSON.parse((await Files.read({ path: file.path })).content)
          // The messageId makes publishing idempotent: an order seen again is ignored.
          await Topics.publish({
            topic: "order.received",
            event: { messageId: order.id, title: `Order ${order.id}`, payload: order },
          })
        }
        return { polls: ((state && state.polls) || 0) + 1 }
      },
    },
  },
  consumers: {
    announce: {
      subscribe: ["order.received"],
      // prepare: read, decide, and reserve the events this run will handle.
      prepare: async (state) => {
        const [event] = await Topics.peek({ topic: "order.received", limit: 1 })
        if (!event) return { reservations: [] }
        const order = event.payload
        return {
          reservations: [{ topic: "order.received", ids: [event.messageId] }],
          data: { text: `New order ${order.id}: ${order.total} EUR from ${order.customer}`, total: order.total, sum: (state && state.sum) || 0 },
          ui: { title: `Announce order ${order.id}` },
        }
      },
      // mutate: at most one external side effect, recorded in the ledger before and after the call.
      mutate: async (prepared) => {
        await Chat.post({ channel: "sales", text: prepared.data.text })
      },
      // next: the new state (and, if declared, events for other topics), committed with the run.
      next: async (prepared, mutation) => ({
        sum: prepared.data.sum + (mutation.status === "applied" ? prepared.data.total : 0),
      }),
    },
  },
}
