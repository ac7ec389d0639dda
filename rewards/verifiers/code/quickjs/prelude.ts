/**
 * Trusted JavaScript evaluated inside each fresh QuickJS context before the model's code.
 *
 * PRELUDE is a function expression; the host calls it with an object of host functions and a JSON
 * config, and keeps the object it returns (the "bag": runTests, runTimer). Nothing
 * it is given or returns is put on globalThis, so the model's code cannot reach the host functions, the
 * completion callback or the nonce. What it does, in order:
 * 1. defines the documented globals: console, print, readline, input, readAll, assert, module/exports,
 *    setTimeout/setInterval/clear*, queueMicrotask (virtual time: timers fire in order, without waiting);
 * 2. captures every global binding as it is now and builds the test wrapper: a sloppy-mode function whose
 *    parameters shadow those names (and `eval`), so the tests see pristine bindings even when the model's
 *    code reassigns `globalThis.JSON` or declares its own `console`; the tests run in it by direct eval;
 * 3. locks the realm down: every constructor, namespace and prototype reachable from the globals (and the
 *    hidden iterator, generator and async prototypes) is frozen, so the model cannot patch
 *    `JSON.stringify`, `Array.prototype.join` or `console.assert` to make comparisons succeed. A few
 *    prototype properties that ordinary code assigns on its own objects (`name`/`message` in Error
 *    subclasses, `toString`, `valueOf`, `constructor`) become accessors whose setter defines the property
 *    on the receiver, so that code keeps working (the "override mistake" of a frozen prototype).
 *
 * PRELUDE_LIB (value formatting for console.log, the assert module) is compiled by the host only when
 * first used, inside a function whose parameters shadow every global with its pristine value, so it is as safe to
 * compile after the model's code has run as before. Keeping it out of PRELUDE halves the per-run cost.
 *
 * Both are strings (not a function's `toString()`) because bundlers rewrite function bodies. They must
 * contain no backtick and no dollar-brace sequence.
 */
export const PRELUDE = String.raw`(function (host, configJson) {
  "use strict";
  const G = globalThis;
  const config = JSON.parse(configJson);
  const O = Object;
  const apply = Reflect.apply;
  const { defineProperty, getOwnPropertyDescriptor, getOwnPropertyNames, getPrototypeOf, freeze, create } = O;
  const promiseThen = Promise.prototype.then;
  const promiseResolve = Promise.resolve.bind(Promise);
  const errToString = Error.prototype.toString;
  const objHasOwn = O.prototype.hasOwnProperty;
  const hasOwn = (o, k) => apply(objHasOwn, o, [k]);
  const StringC = String;
  const ErrorC = Error;
  const TypeErrorC = TypeError;
  const MapC = Map;
  const mathMax = Math.max;
  const evalFn = G.eval;
  const IDENT = /^[A-Za-z_$][\w$]*$/;

  // ---- output -------------------------------------------------------------------------------------
  let outputLeft = config.outputCap;
  function emit(stream, text) {
    if (outputLeft < 0) return;
    // Never hand the host more than the cap plus one (so it sees the overflow): a 200 MB string made
    // inside the sandbox stays inside it.
    const s = text.length > outputLeft + 1 ? text.slice(0, outputLeft + 1) : text;
    outputLeft -= s.length;
    host.write(stream, s);
  }
  function where() {
    // The first frame outside this prelude: the line of the test that failed.
    try {
      const lines = StringC(new ErrorC().stack).split("\n");
      for (let i = 0; i < lines.length; i++) {
        const l = lines[i];
        if (l && l.indexOf("assay-prelude") < 0 && l.indexOf("assay-lib") < 0 && l.indexOf("(native)") < 0) return l.trim();
      }
    } catch (e) {}
    return "";
  }
  function recordFailure(message) {
    const at = where();
    host.fail(at ? message + " (" + at + ")" : message);
  }

  // ---- the lazily compiled library ----------------------------------------------------------------
  let lib = null;
  let libFactory = null;
  function L() {
    if (lib === null) lib = libFactory(emit, recordFailure);
    return lib;
  }
  function plain(v) {
    const t = typeof v;
    return t === "string" || t === "boolean" || t === "undefined" || (t === "number" && v === v && v !== 0) || v === null;
  }
  // console.log of strings, non-zero numbers and the like needs no formatter; anything else compiles it.
  function format(args) {
    let out = "";
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (!plain(a) || (i === 0 && typeof a === "string" && a.indexOf("%") >= 0)) return L().format(args);
      out += (i === 0 ? "" : " ") + StringC(a);
    }
    return out;
  }
  const log = (...args) => emit(1, format(args) + "\n");
  const warn = (...args) => emit(2, format(args) + "\n");
  const consoleObj = create(O.prototype);
  const consoleMethods = {
    log,
    info: log,
    debug: log,
    trace: log,
    dir: (v) => emit(1, (plain(v) && typeof v !== "string" ? StringC(v) : L().inspect(v, 1, [])) + "\n"),
    table: log,
    warn,
    error: warn,
    assert(cond, ...data) {
      if (cond) return;
      const msg = data.length ? "Assertion failed: " + format(data) : "Assertion failed";
      emit(2, msg + "\n");
      recordFailure(msg);
    },
    group: log,
    groupEnd() {},
    time() {},
    timeEnd() {},
    count() {},
  };
  const cm = O.keys(consoleMethods);
  for (let i = 0; i < cm.length; i++)
    defineProperty(consoleObj, cm[i], { value: consoleMethods[cm[i]], enumerable: true });

  // ---- stdin --------------------------------------------------------------------------------------
  function readline() {
    const line = host.readline();
    return line === null || line === undefined ? null : StringC(line);
  }
  function input() {
    const line = host.readline();
    if (line === null || line === undefined) throw new ErrorC("EOF when reading a line");
    return StringC(line);
  }
  function readAll() {
    return StringC(host.readAll());
  }

  // ---- assert: ok() here, the rest from the library on first use ----------------------------------
  const ASSERT_METHODS = ["strictEqual", "notStrictEqual", "deepStrictEqual", "notDeepStrictEqual", "equal", "notEqual",
    "deepEqual", "notDeepEqual", "fail", "throws", "doesNotThrow", "match"];
  function makeAssert(strictMode) {
    const ok = function ok(value, message) {
      if (!value) L().assertFail(message, value);
    };
    const a = function assert(value, message) {
      if (!value) L().assertFail(message, value);
    };
    defineProperty(a, "ok", { value: ok, enumerable: true });
    for (let i = 0; i < ASSERT_METHODS.length; i++) {
      const m = ASSERT_METHODS[i];
      defineProperty(a, m, { value: (...args) => apply(L().asserts(strictMode)[m], undefined, args), enumerable: true });
    }
    defineProperty(a, "AssertionError", { get: () => L().AssertionError, enumerable: true });
    return a;
  }
  const assertStrict = makeAssert(true);
  const assertLoose = makeAssert(false);
  defineProperty(assertLoose, "strict", { value: assertStrict, enumerable: true });
  defineProperty(assertStrict, "strict", { value: assertStrict, enumerable: true });

  // The tests' require(): node:assert only. The model's code sees no require at all.
  function testRequire(name) {
    const n = StringC(name).replace(/^node:/, "");
    if (n === "assert") return assertLoose;
    if (n === "assert/strict") return assertStrict;
    host.missing(StringC(name));
    throw new ErrorC("require('" + StringC(name) + "') is not available in the sandbox");
  }

  // ---- virtual timers -----------------------------------------------------------------------------
  let now = 0;
  let seq = 0;
  const timers = new MapC();
  function addTimer(fn, ms, args, repeat) {
    if (typeof fn !== "function") throw new TypeErrorC("The callback must be a function");
    const delay = apply(mathMax, undefined, [1, +ms || 0]);
    const id = ++seq;
    timers.set(id, { fn, args, delay, at: now + delay, seq: id, repeat });
    return id;
  }
  const clear = (id) => {
    timers.delete(+id);
  };
  function describe(e) {
    try {
      if (e instanceof ErrorC) return apply(errToString, e, []);
      return typeof e === "string" ? e : L().inspect(e, 1, []);
    } catch (x) {
      return "an exception that cannot be described";
    }
  }
  function runTimer() {
    let best = null;
    timers.forEach((t) => {
      if (best === null || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    });
    if (best === null) return false;
    now = best.at;
    if (best.repeat) best.at = now + best.delay;
    else timers.delete(best.seq);
    try {
      apply(best.fn, undefined, best.args);
    } catch (e) {
      host.uncaught("uncaught exception in a timer callback: " + describe(e));
    }
    return true;
  }

  // ---- globals ------------------------------------------------------------------------------------
  const globals = {
    console: consoleObj,
    print: log,
    readline,
    input,
    readAll,
    assert: assertLoose,
    setTimeout: (fn, ms, ...args) => addTimer(fn, ms, args, false),
    setInterval: (fn, ms, ...args) => addTimer(fn, ms, args, true),
    clearTimeout: clear,
    clearInterval: clear,
    queueMicrotask(fn) {
      if (typeof fn !== "function") throw new TypeErrorC("The callback must be a function");
      apply(promiseThen, promiseResolve(), [
        () => {
          try {
            fn();
          } catch (e) {
            host.uncaught("uncaught exception in a microtask: " + describe(e));
          }
        },
      ]);
    },
  };
  const gk = O.keys(globals);
  for (let i = 0; i < gk.length; i++)
    defineProperty(G, gk[i], { value: globals[gk[i]], writable: true, enumerable: false, configurable: true });
  const moduleObj = { exports: {} };
  defineProperty(G, "module", { value: moduleObj, writable: true, enumerable: false, configurable: true });
  defineProperty(G, "exports", { value: moduleObj.exports, writable: true, enumerable: false, configurable: true });

  // ---- pristine scopes: the test wrapper and the library factory -----------------------------------
  const SKIP = { eval: 1, arguments: 1, undefined: 1, NaN: 1, Infinity: 1, module: 1, exports: 1 };
  const names = [];
  const values = [];
  const all = getOwnPropertyNames(G);
  for (let i = 0; i < all.length; i++) {
    const n = all[i];
    if (!IDENT.test(n) || hasOwn(SKIP, n)) continue;
    const d = getOwnPropertyDescriptor(G, n);
    if (!d || !("value" in d)) continue;
    names.push(n);
    values.push(d.value);
  }
  names.push("require");
  values.push(testRequire);
  const params = "eval, " + names.join(", ");
  // Sloppy mode on purpose (the tests are ordinary scripts). Parameters, not const bindings, so that a
  // test's own "var assert = require('assert')" or "function check()" is legal inside the direct eval.
  const wrapper = (0, evalFn)(
    "(function (" + params + ", __assay_src, __assay_finish, __assay_nonce) {\n" +
      "  return __assay_finish(eval(__assay_src), __assay_nonce);\n})",
  );
  // The host compiles the library (as assay-lib.js, so its stack frames are recognisable) inside a
  // function whose parameters are these same names.
  libFactory = (emitFn, failFn) => {
    const scope = host.lib(params);
    return apply(apply(scope, undefined, [evalFn, ...values]), undefined, [emitFn, failFn]);
  };

  function finish(value, nonce) {
    if (typeof value === "object" && value !== null) {
      // A brand check, not a "then" lookup: only a real promise is awaited.
      let pending = true;
      try {
        apply(promiseThen, value, [() => host.done(nonce), (e) => host.rejected(describe(e))]);
      } catch (e) {
        pending = false;
      }
      if (pending) return "async";
    }
    host.done(nonce);
    return "sync";
  }

  // ---- lockdown -----------------------------------------------------------------------------------
  function enableOverride(obj, k) {
    const d = getOwnPropertyDescriptor(obj, k);
    if (!d || !("value" in d) || !d.configurable) return;
    const value = d.value;
    defineProperty(obj, k, {
      get: function () {
        return value;
      },
      set: function (v) {
        if (this === obj) throw new TypeErrorC("Cannot assign to read only property '" + StringC(k) + "' of a frozen built-in");
        defineProperty(this, k, { value: v, writable: true, enumerable: true, configurable: true });
      },
      enumerable: d.enumerable,
      configurable: false,
    });
  }
  const overridable = [
    [O.prototype, ["constructor", "toString", "toLocaleString", "valueOf"]],
    [Function.prototype, ["constructor", "toString"]],
    [Array.prototype, ["constructor", "toString"]],
  ];
  const errorCtors = ["Error", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError",
    "InternalError", "AggregateError"];
  for (let i = 0; i < errorCtors.length; i++) {
    const c = G[errorCtors[i]];
    if (typeof c === "function") overridable.push([c.prototype, ["constructor", "name", "message", "toString"]]);
  }
  for (let i = 0; i < overridable.length; i++) {
    const ks = overridable[i][1];
    for (let j = 0; j < ks.length; j++) enableOverride(overridable[i][0], ks[j]);
  }
  // Constructors, namespaces and prototypes; built-in methods themselves are left extensible (freezing
  // the ~700 of them would double the cost of a run).
  const stack = [
    function* () {},
    async function () {},
    async function* () {},
    [][Symbol.iterator](),
    ""[Symbol.iterator](),
    new MapC().entries(),
    new Set().values(),
    /x/[Symbol.matchAll](""),
    getPrototypeOf(Uint8Array),
    (function* () {})(),
    (async function* () {})(),
    Array.prototype[Symbol.unscopables],
  ];
  for (let i = 0; i < values.length; i++) stack.push(values[i]);
  const seen = new Set();
  while (stack.length) {
    const o = stack.pop();
    if ((typeof o !== "object" && typeof o !== "function") || o === null || o === G || seen.has(o)) continue;
    seen.add(o);
    freeze(o);
    stack.push(getPrototypeOf(o));
    if (typeof o === "function") {
      const d = getOwnPropertyDescriptor(o, "prototype");
      if (d && "value" in d) stack.push(d.value);
    }
  }

  const bag = create(null);
  bag.runTests = (src, nonce) => apply(wrapper, undefined, [evalFn, ...values, src, finish, nonce]);
  bag.runTimer = runTimer;
  return freeze(bag);
})`;

/**
 * The library half of the prelude: value formatting (a Node-like, single-line subset of util.inspect and
 * util.format) and the node:assert functions. It is compiled inside a scope whose parameters are the
 * pristine globals, so every global name here is the original even after the model's code ran.
 */
export const PRELUDE_LIB = String.raw`(function (emit, recordFailure) {
  "use strict";
  const O = Object;
  const apply = Reflect.apply;
  const ownKeys = Reflect.ownKeys;
  const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, freeze, is } = O;
  const isArray = Array.isArray;
  const objToString = O.prototype.toString;
  const fnToString = Function.prototype.toString;
  const errToString = Error.prototype.toString;
  const dateToISO = Date.prototype.toISOString;
  const regexpToString = RegExp.prototype.toString;
  const symbolToString = Symbol.prototype.toString;
  const mapEntries = Map.prototype.entries;
  const setValues = Set.prototype.values;
  const mapSize = getOwnPropertyDescriptor(Map.prototype, "size").get;
  const setSize = getOwnPropertyDescriptor(Set.prototype, "size").get;
  const objHasOwn = O.prototype.hasOwnProperty;
  const hasOwn = (o, k) => apply(objHasOwn, o, [k]);
  const numberValueOf = Number.prototype.valueOf;
  const stringValueOf = String.prototype.valueOf;
  const booleanValueOf = Boolean.prototype.valueOf;
  const dateGetTime = Date.prototype.getTime;
  const StringC = String;
  const ErrorC = Error;
  const IDENT = /^[A-Za-z_$][\w$]*$/;
  const INDEX = /^(0|[1-9][0-9]*)$/;

  function quote(s) {
    return "'" + s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n") + "'";
  }
  function key(k) {
    if (typeof k === "symbol") return "[" + apply(symbolToString, k, []) + "]";
    return IDENT.test(k) ? k : quote(k);
  }
  function tagOf(v) {
    try {
      return apply(objToString, v, []).slice(8, -1);
    } catch (e) {
      return "Object";
    }
  }
  function ctorName(v) {
    try {
      const proto = getPrototypeOf(v);
      if (proto === null) return "[Object: null prototype]";
      const d = getOwnPropertyDescriptor(proto, "constructor");
      const c = d && d.value;
      const n = typeof c === "function" ? getOwnPropertyDescriptor(c, "name") : undefined;
      return n && typeof n.value === "string" ? n.value : "";
    } catch (e) {
      return "";
    }
  }
  // A Node-like, single-line rendering of values (Node's line breaking of long objects is not imitated).
  function inspect(v, depth, seen) {
    switch (typeof v) {
      case "string":
        return depth === 0 ? v : quote(v);
      case "number":
        return is(v, -0) ? "-0" : StringC(v);
      case "bigint":
        return StringC(v) + "n";
      case "boolean":
      case "undefined":
        return StringC(v);
      case "symbol":
        return apply(symbolToString, v, []);
      case "function": {
        let src = "";
        try {
          src = apply(fnToString, v, []);
        } catch (e) {}
        const d = getOwnPropertyDescriptor(v, "name");
        const n = d && typeof d.value === "string" && d.value ? d.value : "";
        if (src.slice(0, 5) === "class") return "[class " + (n || "(anonymous)") + "]";
        return n ? "[Function: " + n + "]" : "[Function (anonymous)]";
      }
    }
    if (v === null) return "null";
    if (seen.indexOf(v) >= 0) return "[Circular]";
    const tag = tagOf(v);
    if (tag === "Error" || v instanceof ErrorC) {
      try {
        const st = v.stack;
        const head = apply(errToString, v, []);
        return typeof st === "string" && st ? head + "\n" + st.replace(/\n$/, "") : head;
      } catch (e) {
        return "[Error]";
      }
    }
    if (tag === "Date") {
      try {
        return apply(dateToISO, v, []);
      } catch (e) {
        return "Invalid Date";
      }
    }
    if (tag === "RegExp") return apply(regexpToString, v, []);
    if (depth > 2) return isArray(v) ? "[Array]" : "[Object]";
    seen.push(v);
    const parts = [];
    let open = "{";
    let close = "}";
    let prefix = "";
    if (isArray(v)) {
      open = "[";
      close = "]";
      let holes = 0;
      for (let i = 0; i < v.length; i++) {
        if (!hasOwn(v, i)) {
          holes++;
          continue;
        }
        if (holes) parts.push("<" + holes + " empty item" + (holes > 1 ? "s" : "") + ">");
        holes = 0;
        if (parts.length >= 100) {
          parts.push("... " + (v.length - i) + " more items");
          break;
        }
        parts.push(inspect(v[i], depth + 1, seen));
      }
      if (holes) parts.push("<" + holes + " empty item" + (holes > 1 ? "s" : "") + ">");
    } else if (tag === "Map") {
      prefix = "Map(" + apply(mapSize, v, []) + ") ";
      const it = apply(mapEntries, v, []);
      for (let r = it.next(); !r.done; r = it.next())
        parts.push(inspect(r.value[0], depth + 1, seen) + " => " + inspect(r.value[1], depth + 1, seen));
    } else if (tag === "Set") {
      prefix = "Set(" + apply(setSize, v, []) + ") ";
      const it = apply(setValues, v, []);
      for (let r = it.next(); !r.done; r = it.next()) parts.push(inspect(r.value, depth + 1, seen));
    } else {
      const n = ctorName(v);
      if (n && n !== "Object") prefix = n + " ";
    }
    const ks = ownKeys(v);
    for (let i = 0; i < ks.length; i++) {
      const k = ks[i];
      if (isArray(v) && typeof k === "string" && (k === "length" || INDEX.test(k))) continue;
      const d = getOwnPropertyDescriptor(v, k);
      if (!d || !d.enumerable) continue;
      if ("value" in d) parts.push(key(k) + ": " + inspect(d.value, depth + 1, seen));
      else parts.push(key(k) + ": [" + (d.get ? (d.set ? "Getter/Setter" : "Getter") : "Setter") + "]");
    }
    seen.pop();
    if (parts.length === 0) return prefix + open + close;
    return prefix + open + " " + parts.join(", ") + " " + close;
  }
  function format(args) {
    let out = "";
    let i = 0;
    if (typeof args[0] === "string" && args[0].indexOf("%") >= 0) {
      const f = args[0];
      i = 1;
      for (let j = 0; j < f.length; j++) {
        const c = f[j];
        if (c !== "%" || j + 1 >= f.length) {
          out += c;
          continue;
        }
        const n = f[j + 1];
        if (n === "%") {
          out += "%";
          j++;
        } else if ("sdifjoOc".indexOf(n) >= 0) {
          j++;
          if (n === "c") {
            i++;
            continue;
          }
          if (i >= args.length) {
            out += "%" + n;
            continue;
          }
          const a = args[i++];
          if (n === "s") out += typeof a === "string" ? a : inspect(a, 1, []);
          else if (n === "d" || n === "i") {
            const x = typeof a === "bigint" ? a : n === "i" ? parseInt(a) : Number(a);
            out += typeof x === "bigint" ? StringC(x) + "n" : inspect(x, 0, []);
          } else if (n === "f") out += inspect(parseFloat(a), 0, []);
          else if (n === "j") {
            try {
              out += JSON.stringify(a);
            } catch (e) {
              out += "[Circular]";
            }
          } else out += inspect(a, 1, []);
        } else out += c;
      }
    }
    for (; i < args.length; i++) out += (out === "" && i === 0 ? "" : " ") + inspect(args[i], 0, []);
    return out;
  }

  class AssertionError extends ErrorC {
    constructor(message, actual, expected, operator) {
      super(message);
      defineProperty(this, "actual", { value: actual, writable: true, configurable: true });
      defineProperty(this, "expected", { value: expected, writable: true, configurable: true });
      defineProperty(this, "operator", { value: operator, writable: true, configurable: true });
    }
  }
  defineProperty(AssertionError.prototype, "name", { value: "AssertionError", writable: true, configurable: true });
  defineProperty(AssertionError.prototype, "code", { value: "ERR_ASSERTION", writable: true, configurable: true });
  function failWith(message, fallback, actual, expected, operator) {
    let msg = fallback;
    if (message instanceof ErrorC) {
      recordFailure(StringC(message.message));
      throw message;
    }
    if (message !== undefined) msg = StringC(message);
    recordFailure(msg);
    throw new AssertionError(msg, actual, expected, operator);
  }
  const show = (v) => inspect(v, 1, []);
  function same(a, b, strict, memo) {
    if (strict ? is(a, b) : a == b || (a !== a && b !== b)) return true;
    if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
    if (strict && getPrototypeOf(a) !== getPrototypeOf(b)) return false;
    const ta = tagOf(a);
    if (ta !== tagOf(b)) return false;
    for (let i = 0; i < memo.length; i++) if (memo[i][0] === a && memo[i][1] === b) return true;
    memo.push([a, b]);
    if (isArray(a) !== isArray(b)) return false;
    if (ta === "Date") return is(apply(dateGetTime, a, []), apply(dateGetTime, b, []));
    if (ta === "RegExp") return StringC(a) === StringC(b);
    if (ta === "Number" || ta === "String" || ta === "Boolean") {
      const unbox = ta === "Number" ? numberValueOf : ta === "String" ? stringValueOf : booleanValueOf;
      return is(apply(unbox, a, []), apply(unbox, b, []));
    }
    if (ta === "Map" || ta === "Set") {
      const sa = apply(ta === "Map" ? mapSize : setSize, a, []);
      if (sa !== apply(ta === "Map" ? mapSize : setSize, b, [])) return false;
      const la = [];
      const lb = [];
      const ia = apply(ta === "Map" ? mapEntries : setValues, a, []);
      for (let r = ia.next(); !r.done; r = ia.next()) la.push(r.value);
      const ib = apply(ta === "Map" ? mapEntries : setValues, b, []);
      for (let r = ib.next(); !r.done; r = ib.next()) lb.push(r.value);
      const used = [];
      for (let i = 0; i < la.length; i++) {
        let found = false;
        for (let j = 0; j < lb.length && !found; j++) {
          if (used[j]) continue;
          if (same(la[i], lb[j], strict, memo)) {
            used[j] = true;
            found = true;
          }
        }
        if (!found) return false;
      }
      return true;
    }
    const ka = O.keys(a);
    const kb = O.keys(b);
    if (ka.length !== kb.length) return false;
    for (let i = 0; i < ka.length; i++) {
      if (!hasOwn(b, ka[i])) return false;
      if (!same(a[ka[i]], b[ka[i]], strict, memo)) return false;
    }
    return true;
  }
  function makeAsserts(strictMode) {
    const strictEqual = (x, y, m) => {
      if (!is(x, y)) failWith(m, "Expected values to be strictly equal: " + show(x) + " !== " + show(y), x, y, "strictEqual");
    };
    const notStrictEqual = (x, y, m) => {
      if (is(x, y)) failWith(m, "Expected values to be not strictly equal: " + show(x), x, y, "notStrictEqual");
    };
    const deepStrictEqual = (x, y, m) => {
      if (!same(x, y, true, []))
        failWith(m, "Expected values to be strictly deep-equal: " + show(x) + " vs " + show(y), x, y, "deepStrictEqual");
    };
    const notDeepStrictEqual = (x, y, m) => {
      if (same(x, y, true, []))
        failWith(m, "Expected values not to be strictly deep-equal: " + show(x), x, y, "notDeepStrictEqual");
    };
    const methods = {
      strictEqual,
      notStrictEqual,
      deepStrictEqual,
      notDeepStrictEqual,
      equal: strictMode
        ? strictEqual
        : (x, y, m) => {
            if (!(x == y || (x !== x && y !== y))) failWith(m, show(x) + " == " + show(y), x, y, "==");
          },
      notEqual: strictMode
        ? notStrictEqual
        : (x, y, m) => {
            if (x == y || (x !== x && y !== y)) failWith(m, show(x) + " != " + show(y), x, y, "!=");
          },
      deepEqual: strictMode
        ? deepStrictEqual
        : (x, y, m) => {
            if (!same(x, y, false, [])) failWith(m, "Expected values to be loosely deep-equal: " + show(x) + " vs " + show(y), x, y, "deepEqual");
          },
      notDeepEqual: strictMode
        ? notDeepStrictEqual
        : (x, y, m) => {
            if (same(x, y, false, [])) failWith(m, "Expected values not to be loosely deep-equal: " + show(x), x, y, "notDeepEqual");
          },
      fail: (m) => failWith(m, "Failed", undefined, undefined, "fail"),
      throws(fn, expected, m) {
        let threw = false;
        try {
          fn();
        } catch (e) {
          threw = true;
          if (typeof expected === "function" && expected.prototype !== undefined && !(e instanceof expected))
            failWith(m, "The error is not an instance of " + show(expected), e, expected, "throws");
        }
        if (!threw) failWith(typeof expected === "string" ? expected : m, "Missing expected exception.", undefined, expected, "throws");
      },
      doesNotThrow(fn, m) {
        try {
          fn();
        } catch (e) {
          failWith(m, "Got unwanted exception: " + show(e), e, undefined, "doesNotThrow");
        }
      },
      match(s, re, m) {
        if (typeof s !== "string" || !re.test(s)) failWith(m, "The input did not match " + StringC(re), s, re, "match");
      },
    };
    return freeze(methods);
  }

  const strict = makeAsserts(true);
  const loose = makeAsserts(false);
  return freeze({
    inspect,
    format,
    AssertionError,
    asserts: (strictMode) => (strictMode ? strict : loose),
    assertFail: (message, value) =>
      failWith(message, "The expression evaluated to a falsy value: " + show(value), value, true, "=="),
  });
})`;
