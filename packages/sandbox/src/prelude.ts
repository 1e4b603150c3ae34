/**
 * The guest prelude: JavaScript evaluated as `prelude.js` in every fresh context before the user's script. It
 * captures the intrinsics it needs before user code can patch them, keeps the host primitives in closures (no
 * global names them), and returns `install(namespacesJson, maxConsoleChars)`, which defines the tool namespaces and
 * `console` and returns the guest side of the evaluation: `run`, `describe` and `explain`.
 *
 * Only the part every evaluation needs is compiled when an instance is created; the rest (`PRELUDE_LAZY_SOURCE`:
 * describing thrown values and the workflow, formatting console arguments that are not primitives) is compiled in
 * the instance on first use, from the intrinsics the prelude captured before any user code ran.
 *
 * Host primitives (all but `hostLoad` return `undefined`; results flow back through guest-owned promises):
 * - `hostCall(toolId, inputJson, inputLength, callSiteStack, resolve)`: `toolId` numbers the methods of
 *   `namespacesJson` in order; `resolve` later receives an
 *   envelope string: `v<json>` value, `u` undefined, `e<json>` failed call `{name, message, code?, type?, id}`.
 * - `hostConsole(level, message)`.
 * - `hostSettle(kind, text, length)`: the evaluation's result. `v` JSON value, `u` undefined, `n` not JSON,
 *   `h` handler not found, `e` thrown value (described as JSON by `explain`).
 * - `hostLoad()`: returns the function `PRELUDE_LAZY_SOURCE` evaluates to (compiled as `prelude.js`).
 */

/** Source of the prelude; it evaluates to `(hostCall, hostConsole, hostSettle, hostLoad) => install`. */
export const PRELUDE_SOURCE = String.raw`(function (hostCall, hostConsole, hostSettle, hostLoad) {
  'use strict';
  const G = globalThis;
  const ErrorCtor = Error, StringCtor = String, PromiseCtor = Promise, TypeErrorCtor = TypeError;
  const apply = Reflect.apply, defineProperty = Object.defineProperty, freeze = Object.freeze;
  const keys = Object.keys, hasOwn = Object.prototype.hasOwnProperty, isArray = Array.isArray;
  const stringify = JSON.stringify, parse = JSON.parse;
  const then = PromiseCtor.prototype.then, resolveP = PromiseCtor.resolve, rejectP = PromiseCtor.reject;
  const slice = StringCtor.prototype.slice, indexOf = StringCtor.prototype.indexOf;
  const weakGet = WeakMap.prototype.get, weakSet = WeakMap.prototype.set;
  const getTime = Date.prototype.getTime, toISO = Date.prototype.toISOString;
  const IDENT = /^[A-Za-z_$][\w$]*$/, test = RegExp.prototype.test;
  const NumberCtor = Number, parseIntFn = parseInt, parseFloatFn = parseFloat;
  // Results are built with literals and Array.from only: assignments could hit setters the script put on prototypes.
  const ArrayCtor = Array, arrayFrom = Array.from;
  const hostErrors = new WeakMap();
  const MAX_TEXT = 65536;

  const kindOf = (v) => (v === null ? 'null' : isArray(v) ? 'array' : typeof v);
  const clip = (s, n) => (s.length > n ? apply(slice, s, [0, n]) : s);
  const read = (o, k) => { try { return o[k]; } catch (e) { return undefined; } };
  const toText = (v) => { try { return clip(StringCtor(v), MAX_TEXT); } catch (e) { return ''; } };

  // The rest (error descriptions, the workflow description, console formatting beyond primitives) is compiled on
  // first use, from the intrinsics captured above: most evaluations never need it, and compiling it in every
  // instance would double the cost of creating one.
  let more;
  const lazy = () => more || (more = hostLoad()({ apply: apply, hasOwn: hasOwn, keys: keys, isArray: isArray,
    stringify: stringify, indexOf: indexOf, weakGet: weakGet, getTime: getTime, toISO: toISO, IDENT: IDENT, test: test,
    NumberCtor: NumberCtor, parseIntFn: parseIntFn, parseFloatFn: parseFloatFn, StringCtor: StringCtor, ErrorCtor: ErrorCtor,
    hostErrors: hostErrors, MAX_TEXT: MAX_TEXT, ArrayCtor: ArrayCtor, arrayFrom: arrayFrom, kindOf: kindOf, clip: clip,
    read: read, toText: toText, hostSettle: hostSettle }));

  const settleError = (e) => { hostSettle('e', lazy().explain(e), 0); };
  const missing = (message) => { hostSettle('h', message, 0); };

  function settleValue(v) {
    if (v === undefined) return hostSettle('u', '', 0);
    const t = typeof v;
    if (t === 'function' || t === 'symbol') return hostSettle('n', 'the handler returned a ' + t, 0);
    let json;
    try { json = stringify(v); } catch (e) {
      if (!(e instanceof TypeErrorCtor)) return settleError(e);
      return hostSettle('n', toText(read(e, 'message')), 0);
    }
    if (typeof json !== 'string') return hostSettle('n', 'the handler returned a value JSON cannot represent', 0);
    hostSettle('v', json, json.length);
  }

  function run(wf, group, name, method, argsJson) {
    let value;
    try {
      if (wf === undefined) return missing('The script does not define workflow (expected a top-level const workflow = { ... })');
      if (wf === null || (typeof wf !== 'object' && typeof wf !== 'function')) return missing('workflow is ' + kindOf(wf) + ', not an object');
      const path = 'workflow.' + group;
      const handlers = wf[group];
      if (handlers === null || (typeof handlers !== 'object' && typeof handlers !== 'function')) return missing(path + ' is not an object');
      if (!apply(hasOwn, handlers, [name])) return missing(path + '.' + name + ' is not defined');
      const target = handlers[name];
      if (target === null || (typeof target !== 'object' && typeof target !== 'function')) return missing(path + '.' + name + ' is not an object');
      const fn = target[method];
      if (typeof fn !== 'function') return missing(path + '.' + name + '.' + method + ' is not a function');
      value = apply(fn, target, parse(argsJson));
    } catch (e) { return settleError(e); }
    let promise;
    try { promise = apply(resolveP, PromiseCtor, [value]); } catch (e) { return settleError(e); }
    apply(then, promise, [settleValue, settleError]);
  }

  function makeTool(ns, method, id) {
    const tool = function (input) {
      // QuickJS has no async stack traces: capture the caller's position now; it becomes the error if the call fails.
      const site = new ErrorCtor('');
      let json;
      try { json = input === undefined ? 'null' : stringify(input); } catch (e) { return apply(rejectP, PromiseCtor, [e]); }
      if (typeof json !== 'string') {
        return apply(rejectP, PromiseCtor, [new TypeErrorCtor(ns + '.' + method + ' takes one JSON value as its argument')]);
      }
      const decode = (envelope) => {
        const tag = envelope[0], body = apply(slice, envelope, [1]);
        if (tag === 'v') return parse(body);
        if (tag === 'u') return undefined;
        const data = parse(body);
        site.name = data.name; site.message = data.message; site.stack = lazy().ownFrames(toText(read(site, 'stack')));
        if (data.code !== undefined) site.code = data.code;
        if (data.type !== undefined) site.type = data.type;
        apply(weakSet, hostErrors, [site, data.id]);
        throw site;
      };
      const pending = new PromiseCtor((resolve) => { hostCall(id, json, json.length, toText(read(site, 'stack')), resolve); });
      return apply(then, pending, [decode]);
    };
    defineProperty(tool, 'name', { value: method });
    return tool;
  }

  // A console line of primitives, exactly as format() writes it; undefined when format() is needed.
  function quickFormat(args, max) {
    const first = args[0];
    if (typeof first === 'string' && apply(indexOf, first, ['%']) >= 0 && args.length > 1) return undefined;
    let out = '';
    for (let i = 0; i < args.length && out.length <= max; i++) {
      const v = args[i];
      let text;
      switch (typeof v) {
        case 'string': text = v; break;
        case 'number': text = v === 0 && 1 / v < 0 ? '-0' : StringCtor(v); break;
        case 'bigint': text = StringCtor(v) + 'n'; break;
        case 'undefined': text = 'undefined'; break;
        case 'boolean': text = v ? 'true' : 'false'; break;
        case 'symbol': text = toText(v); break;
        default: if (v !== null) return undefined; text = 'null';
      }
      out += (out === '' && i === 0 ? '' : ' ') + text;
    }
    return clip(out, max + 1);
  }

  function defineGlobal(name, value) {
    if (apply(hasOwn, G, [name])) throw new ErrorCtor('Tool namespace ' + name + ' collides with a global of the sandbox');
    defineProperty(G, name, { value: value, writable: true, enumerable: false, configurable: true });
  }

  return function install(namespacesJson, maxConsoleChars) {
    const spec = parse(namespacesJson);
    let id = 0;
    for (let i = 0; i < spec.length; i++) {
      const ns = spec[i][0], methods = spec[i][1], obj = {};
      for (let j = 0; j < methods.length; j++) obj[methods[j]] = makeTool(ns, methods[j], id++);
      defineGlobal(ns, freeze(obj));
    }
    const levels = ['log', 'info', 'warn', 'error'], cons = {};
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i];
      const log = function (...args) {
        const text = quickFormat(args, maxConsoleChars);
        hostConsole(level, text !== undefined ? text : lazy().format(args, maxConsoleChars));
      };
      defineProperty(log, 'name', { value: level });
      cons[level] = log;
    }
    defineProperty(G, 'console', { value: freeze(cons), writable: true, enumerable: false, configurable: true });
    return freeze({ run: run, describe: (wf) => lazy().describe(wf), explain: (e) => lazy().explain(e) });
  };
})`

/** Source of the rest of the prelude; it evaluates to `(captured) => ({ explain, describe, ownFrames, format })`. */
export const PRELUDE_LAZY_SOURCE = String.raw`(function (c) {
  'use strict';
  const apply = c.apply, hasOwn = c.hasOwn, keys = c.keys, isArray = c.isArray, stringify = c.stringify;
  const indexOf = c.indexOf, weakGet = c.weakGet, getTime = c.getTime, toISO = c.toISO, IDENT = c.IDENT, test = c.test;
  const NumberCtor = c.NumberCtor, parseIntFn = c.parseIntFn, parseFloatFn = c.parseFloatFn, StringCtor = c.StringCtor;
  const ErrorCtor = c.ErrorCtor, hostErrors = c.hostErrors, MAX_TEXT = c.MAX_TEXT, ArrayCtor = c.ArrayCtor, arrayFrom = c.arrayFrom;
  const kindOf = c.kindOf, clip = c.clip, read = c.read, toText = c.toText, hostSettle = c.hostSettle;
  const textOf = (v) => (v === undefined || v === null ? '' : toText(v));
  const isError = (v) => { try { return v instanceof ErrorCtor; } catch (e) { return false; } };
  const isDate = (v) => { try { apply(getTime, v, []); return true; } catch (e) { return false; } };
  const collect = (n, at) => apply(arrayFrom, ArrayCtor, [{ length: n }, (_, i) => at(i)]);

  function explain(e) {
    if (isError(e)) {
      let syntax = false;
      try { syntax = apply(hasOwn, e, ['lineNumber']) && read(e, 'fileName') === 'workflow.js'; } catch (x) { }
      const id = apply(weakGet, hostErrors, [e]);
      return stringify({ k: 'error', name: textOf(read(e, 'name')), message: textOf(read(e, 'message')),
        stack: textOf(read(e, 'stack')), syntax: syntax === true, host: typeof id === 'number' ? id : undefined });
    }
    const type = kindOf(e);
    let text = '';
    if (type === 'string') text = clip(e, MAX_TEXT);
    else if (type === 'object' || type === 'array') {
      try { text = stringify(e); } catch (x) { text = undefined; }
      if (typeof text !== 'string') text = toText(e);
      text = clip(text, 2000);
    } else if (type === 'function') text = 'function ' + toText(read(e, 'name'));
    else if (type !== 'undefined' && type !== 'null') text = toText(e);
    return stringify({ k: 'value', type: type, text: text });
  }

  const settleError = (e) => { hostSettle('e', explain(e), 0); };

  const itemOf = (v) => (typeof v === 'string' ? { kind: 'string', value: v } : { kind: kindOf(v) });
  const listOf = (v) => (isArray(v) ? { kind: 'array', items: collect(v.length, (i) => itemOf(v[i])) } : { kind: kindOf(v) });
  function mapOf(m, entry) {
    const kind = kindOf(m);
    if (kind !== 'object') return { kind: kind };
    const names = keys(m);
    return { kind: kind, entries: collect(names.length, (i) => {
      const v = m[names[i]], k = kindOf(v);
      return { ...entry(v), name: names[i], kind: k, keys: k === 'object' ? keys(v) : undefined };
    }) };
  }
  function scheduleOf(s) {
    if (kindOf(s) !== 'object') return { kind: kindOf(s) };
    return { kind: 'object', keys: keys(s), interval: itemOf(s.interval), cron: itemOf(s.cron), timezone: itemOf(s.timezone) };
  }
  const producerOf = (p) => (kindOf(p) !== 'object' ? {} :
    { handler: kindOf(p.handler), schedule: scheduleOf(p.schedule), publishes: listOf(p.publishes) });
  const consumerOf = (c) => (kindOf(c) !== 'object' ? {} :
    { subscribe: listOf(c.subscribe), publishes: listOf(c.publishes), prepare: kindOf(c.prepare), mutate: kindOf(c.mutate), next: kindOf(c.next) });

  function describe(wf) {
    let json;
    try {
      const kind = kindOf(wf);
      json = stringify(kind !== 'object' ? { kind: kind } : {
        kind: kind, keys: keys(wf), topics: mapOf(wf.topics, () => ({})),
        producers: mapOf(wf.producers, producerOf), consumers: mapOf(wf.consumers, consumerOf),
      });
    } catch (e) { return settleError(e); }
    hostSettle('v', json, json.length);
  }

  // Drops the prelude's own frames, so a failed call's stack starts at the user's line.
  function ownFrames(stack) {
    let out = '', line = '';
    for (let i = 0; i <= stack.length; i++) {
      const c = i < stack.length ? stack[i] : '\n';
      if (c !== '\n') { line += c; continue; }
      if (line !== '' && apply(indexOf, line, ['prelude.js:']) < 0) out += line + '\n';
      line = '';
    }
    return out;
  }

  function inspect(v, depth, seen) {
    switch (typeof v) {
      case 'string': return depth === 0 ? v : stringify(v);
      case 'number': return v === 0 && 1 / v < 0 ? '-0' : StringCtor(v);
      case 'bigint': return StringCtor(v) + 'n';
      case 'undefined': return 'undefined';
      case 'boolean': return v ? 'true' : 'false';
      case 'symbol': return toText(v);
      case 'function': { const n = toText(read(v, 'name')); return n ? '[Function: ' + n + ']' : '[Function (anonymous)]'; }
    }
    if (v === null) return 'null';
    if (isError(v)) {
      const stack = toText(read(v, 'stack'));
      return toText(read(v, 'name')) + ': ' + toText(read(v, 'message')) + (stack ? '\n' + stack : '');
    }
    for (let i = 0; i < seen.length; i++) if (seen[i] === v) return '[Circular]';
    if (isDate(v)) { try { return apply(toISO, v, []); } catch (e) { return 'Invalid Date'; } }
    const array = isArray(v);
    if (depth > 2) return array ? '[Array]' : '[Object]';
    seen[seen.length] = v;
    let out = '';
    try {
      const names = array ? null : keys(v), count = array ? v.length : names.length, shown = count > 100 ? 100 : count;
      for (let i = 0; i < shown && out.length < MAX_TEXT; i++) {
        const key = array ? '' : names[i];
        const label = array ? '' : (apply(test, IDENT, [key]) ? key : stringify(key)) + ': ';
        out += (i ? ', ' : ' ') + label + inspect(array ? v[i] : read(v, key), depth + 1, seen);
      }
      if (count > shown) out += ', ... ' + (count - shown) + ' more';
    } finally { seen.length--; }
    return array ? '[' + out + (out ? ' ]' : ']') : '{' + out + (out ? ' }' : '}');
  }

  function format(args, max) {
    let out = '', i = 0;
    const first = args[0];
    if (typeof first === 'string' && apply(indexOf, first, ['%']) >= 0 && args.length > 1) {
      i = 1; out = '';
      for (let p = 0; p < first.length; p++) {
        const c = first[p], d = first[p + 1];
        if (c !== '%' || d === undefined) { out += c; continue; }
        if (d === '%') { out += '%'; p++; continue; }
        if (i >= args.length || apply(indexOf, 'sdifjoOc', [d]) < 0) { out += c; continue; }
        const a = args[i++];
        p++;
        if (d === 's') out += typeof a === 'string' ? a : inspect(a, 1, []);
        else if (d === 'd' || d === 'i') out += typeof a === 'bigint' ? StringCtor(a) + 'n' : StringCtor(d === 'i' ? parseIntFn(a) : NumberCtor(a));
        else if (d === 'f') out += StringCtor(parseFloatFn(a));
        else if (d === 'j') { try { out += stringify(a); } catch (e) { out += '[Circular]'; } }
        else if (d !== 'c') out += inspect(a, 1, []);
        if (out.length > max) break;
      }
    }
    for (; i < args.length && out.length <= max; i++) out += (out === '' && i === 0 ? '' : ' ') + inspect(args[i], 0, []);
    return clip(out, max + 1);
  }

  return { explain: explain, describe: describe, ownFrames: ownFrames, format: format };
})`

/** Appended after the user's source: the script's completion value becomes the `workflow` binding (or undefined). */
export const SCRIPT_GLUE = '\n;(typeof workflow === "undefined" ? undefined : workflow)\n'
