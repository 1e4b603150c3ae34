/**
 * The phase gate of SPEC §5: which operation each phase may perform. Pure; does not execute effects.
 *
 * | operation                                    | producer | prepare | mutate | next |
 * |----------------------------------------------|----------|---------|--------|------|
 * | read tool                                    | ✓        | ✓       | ✗      | ✗    |
 * | mutation tool                                | ✗        | ✗       | ✓ once | ✗    |
 * | Topics.peek / Topics.getByIds (subscribed)   | ✗        | ✓       | ✗      | ✗    |
 * | Topics.publish (declared `publishes`)        | ✓        | ✗       | ✗      | ✓    |
 * | console.*                                    | ✓        | ✓       | ✓      | ✓    |
 *
 * After the one mutation call in `mutate`, every further tool call is refused.
 */

/** The phases a script is evaluated in. */
export type EvalPhase = 'producer' | 'prepare' | 'mutate' | 'next'

/** An operation a script asks for. */
export type Operation =
  | { kind: 'read'; tool: string }
  | { kind: 'mutation'; tool: string }
  | { kind: 'peek'; tool: string; topic: string }
  | { kind: 'publish'; tool: string; topic: string }

/** What the handler declared. */
export interface HandlerAccess {
  handler: string
  subscribe: readonly string[]
  publishes: readonly string[]
}

/** Gate state of one evaluation. */
export interface GateState {
  /** A mutation tool was called in this evaluation (whatever its outcome). */
  mutationCalled: boolean
}

/** The gate's answer. */
export type GateDecision = { allowed: true } | { allowed: false; message: string }

const WHERE: Record<Operation['kind'], string> = {
  read: 'read tools may be called in producers and prepare',
  mutation: 'mutation tools may be called once, in mutate',
  peek: 'Topics.peek and Topics.getByIds may be called in prepare',
  publish: 'Topics.publish may be called in producers and next',
}

const ALLOWED: Record<Operation['kind'], readonly EvalPhase[]> = {
  read: ['producer', 'prepare'],
  mutation: ['mutate'],
  peek: ['prepare'],
  publish: ['producer', 'next'],
}

/** Decides whether `op` is allowed in `phase`. Pure. */
export function checkOperation(phase: EvalPhase, op: Operation, state: GateState, access: HandlerAccess): GateDecision {
  if (phase === 'mutate' && state.mutationCalled) {
    return {
      allowed: false,
      message: `${op.tool} is not allowed in '${access.handler}' mutate after its mutation call: mutate makes exactly one mutation and nothing after it`,
    }
  }
  if (!ALLOWED[op.kind].includes(phase)) {
    return {
      allowed: false,
      message: `${op.tool} is not allowed in the ${phase} phase of '${access.handler}' (${WHERE[op.kind]})`,
    }
  }
  if (op.kind === 'peek' && !access.subscribe.includes(op.topic)) {
    return {
      allowed: false,
      message: `${op.tool}: '${access.handler}' does not subscribe to topic '${op.topic}' (subscribed: ${list(access.subscribe)})`,
    }
  }
  if (op.kind === 'publish' && !access.publishes.includes(op.topic)) {
    return {
      allowed: false,
      message: `${op.tool}: '${access.handler}' does not declare topic '${op.topic}' in publishes (declared: ${list(access.publishes)})`,
    }
  }
  return { allowed: true }
}

function list(items: readonly string[]): string {
  return items.length === 0 ? 'none' : items.map((t) => `'${t}'`).join(', ')
}
