// Inbox → outbox. The producer lists inbox/*.txt and publishes one event per file, keyed by the file name: listing
// the same file again publishes a duplicate, which the engine ignores, so each file is summarized once. The
// consumer reserves one event at a time, writes outbox/<name>.summary.txt (its one mutation, recorded in the
// ledger), and counts what it wrote in its state.
const workflow = {
  topics: { "inbox.file": {} },
  producers: {
    scanInbox: {
      schedule: { interval: "1m" },
      publishes: ["inbox.file"],
      handler: async (state) => {
        const files = await Files.list({ dir: "inbox", pattern: "*.txt" })
        for (const file of files) {
          const { content } = await Files.read({ path: file.path })
          await Topics.publish({
            topic: "inbox.file",
            event: { messageId: file.name, title: file.name, payload: { name: file.name, content } },
          })
        }
        console.log(`listed ${files.length} file(s) in inbox/`)
        return { scans: ((state && state.scans) || 0) + 1 }
      },
    },
  },
  consumers: {
    summarize: {
      subscribe: ["inbox.file"],
      prepare: async (state) => {
        const [event] = await Topics.peek({ topic: "inbox.file", limit: 1 })
        if (!event) return { reservations: [] }
        const { name, content } = event.payload
        return {
          reservations: [{ topic: "inbox.file", ids: [event.messageId] }],
          data: { name, summary: summarize(name, content), written: (state && state.written) || 0 },
          ui: { title: `Summarize ${name}` },
        }
      },
      mutate: async (prepared) => {
        const base = prepared.data.name.replace(/\.txt$/, "")
        await Files.write({ path: `outbox/${base}.summary.txt`, content: prepared.data.summary })
      },
      next: async (prepared, mutation) => ({
        written: prepared.data.written + (mutation.status === "applied" ? 1 : 0),
        last: prepared.data.name,
      }),
    },
  },
}

// Plain helpers are fine: only tool calls are restricted to handlers.
function summarize(name, content) {
  const words = content.split(/\s+/).filter(Boolean)
  const lines = content.split("\n").filter((l) => l.trim() !== "")
  const first = (lines[0] || "").trim()
  const headline = first.length > 72 ? first.slice(0, 71) + "…" : first
  return `${name}: ${headline}\n(${lines.length} lines, ${words.length} words)\n`
}
