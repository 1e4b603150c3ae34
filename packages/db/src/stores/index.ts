import type { Executor } from '../executor.js'
import { type ConsumerWakeupStore, createConsumerWakeupStore } from './consumer-wakeup-store.js'
import { type EventStore, createEventStore } from './event-store.js'
import { type HandlerStateStore, createHandlerStateStore } from './handler-state-store.js'
import { type MutationStore, createMutationStore } from './mutation-store.js'
import { type ProducerScheduleStore, createProducerScheduleStore } from './producer-schedule-store.js'
import { type RunLogStore, createRunLogStore } from './run-log-store.js'
import { type RunStore, createRunStore } from './run-store.js'
import { type ScriptStore, createScriptStore } from './script-store.js'
import { type SessionStore, createSessionStore } from './session-store.js'
import { type TopicStore, createTopicStore } from './topic-store.js'
import { type WorkflowStore, createWorkflowStore } from './workflow-store.js'

/** Every store, bound to one executor (the database or a transaction). */
export interface Stores {
  /** The kysely instance (or transaction) these stores run on. */
  readonly kysely: Executor
  readonly workflows: WorkflowStore
  readonly scripts: ScriptStore
  readonly sessions: SessionStore
  readonly runs: RunStore
  readonly logs: RunLogStore
  readonly mutations: MutationStore
  readonly handlerState: HandlerStateStore
  readonly topics: TopicStore
  readonly events: EventStore
  readonly schedules: ProducerScheduleStore
  readonly wakeups: ConsumerWakeupStore
}

/** Binds every store to `exec`. Stores are created on first use, so a transaction pays only for what it touches. */
export function createStores(exec: Executor): Stores {
  const cache: Partial<Record<keyof Stores, unknown>> = {}
  const lazy = <K extends keyof Stores>(key: K, make: (e: Executor) => Stores[K]): Stores[K] =>
    (cache[key] ??= make(exec)) as Stores[K]
  return {
    kysely: exec,
    get workflows() { return lazy('workflows', createWorkflowStore) },
    get scripts() { return lazy('scripts', createScriptStore) },
    get sessions() { return lazy('sessions', createSessionStore) },
    get runs() { return lazy('runs', createRunStore) },
    get logs() { return lazy('logs', createRunLogStore) },
    get mutations() { return lazy('mutations', createMutationStore) },
    get handlerState() { return lazy('handlerState', createHandlerStateStore) },
    get topics() { return lazy('topics', createTopicStore) },
    get events() { return lazy('events', createEventStore) },
    get schedules() { return lazy('schedules', createProducerScheduleStore) },
    get wakeups() { return lazy('wakeups', createConsumerWakeupStore) },
  }
}

export type {
  ConsumerWakeupStore,
  EventStore,
  HandlerStateStore,
  MutationStore,
  ProducerScheduleStore,
  RunLogStore,
  RunStore,
  ScriptStore,
  SessionStore,
  TopicStore,
  WorkflowStore,
}
