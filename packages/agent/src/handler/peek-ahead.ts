/**
 * `Topics.peek` answered from events the session read ahead (PostgreSQL): a consumer run's commit statement also
 * reads the oldest pending events of the topic that run peeked (see `RunStore.commitSeeing`), and the session's next
 * run takes them for its own first peek of that topic instead of a round trip.
 *
 * Why they are still right: only the session that holds the workflow's lease reserves its events, and between the
 * commit and the next run's `prepare` it reserves none. So every event read ahead is still pending when `prepare`
 * peeks. Events can only have joined since: published later (they sort after, unless a publisher that took an earlier
 * sequence committed late) or requeued by an operator. The peek then answers as it would have at the commit, as a
 * peek that ran a moment earlier would, and the prepared checkpoint still checks every reserved id.
 */
import type { Event, PeekedEvents } from '@ledgerflow/db'

/** The largest limit read ahead: `Topics.peek`'s default. A larger peek reads the database, as before. */
export const READ_AHEAD_MAX = 100

/** Pure; whether events read ahead answer `Topics.peek({ topic, limit })`. All pending events came back when fewer than their limit did. */
export function answersPeek(ready: PeekedEvents, topic: string, limit: number): boolean {
  return ready.topic === topic && (limit <= ready.limit || ready.events.length < ready.limit)
}

/** One consumer run's part: the events read ahead for it (if any), and what its first peek asked. */
export class PeekAhead {
  #ready: PeekedEvents | undefined
  #asked: { topic: string; limit: number } | undefined

  constructor(ready?: PeekedEvents) {
    this.#ready = ready
  }

  /**
   * The answer to `Topics.peek({ topic, limit })` from the events read ahead, or `undefined` (read the database).
   * They answer the run's first peek only; the first peek is also what the run's commit reads ahead for the next run.
   */
  peek(topic: string, limit: number): Event[] | undefined {
    this.#asked ??= { topic, limit }
    const ready = this.#ready
    this.#ready = undefined
    return ready !== undefined && answersPeek(ready, topic, limit) ? ready.events.slice(0, limit) : undefined
  }

  /** What the run's commit should read ahead for the next run: its first peek, unless larger than {@link READ_AHEAD_MAX}. */
  get readAhead(): { topic: string; limit: number } | undefined {
    const asked = this.#asked
    return asked !== undefined && asked.limit <= READ_AHEAD_MAX ? asked : undefined
  }
}
