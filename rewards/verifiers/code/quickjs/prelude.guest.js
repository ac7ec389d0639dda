/**
 * The sandbox's prelude: trusted JavaScript that QuickJS evaluates in the pristine context, before any
 * model code, as the script "assay-prelude.js" (rewards/verifiers/code/quickjs/sandbox.ts; wrangler's
 * Text rule and the Node hooks import this file as a string). The file is one arrow function; the host
 * calls it with an object of host functions and keeps the object it returns (the "bag": runTests,
 * runTimer, start, prepare). Nothing it is given or returns is put on globalThis, so the model's code
 * cannot reach the host functions, the completion callback or the nonce. What it does, in order:
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
 * The library half (lib.guest.js: value formatting, node:assert) is compiled by bag.prepare, in a scope
 * of pristine globals built here. The host runs all this once and snapshots the module's memory; every
 * run starts from that snapshot (snapshot.ts), so state kept here is per run.
 */
(host) => {
  // biome-ignore lint/suspicious/noRedundantUseStrict: QuickJS evaluates this file as a sloppy script, not a module.
  "use strict";
  const G = globalThis;
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
  const numberIsNaN = Number.isNaN;
  const evalFn = G.eval;
  const IDENT = /^[A-Za-z_$][\w$]*$/;

  // ---- output -------------------------------------------------------------------------------------
  // Set per run by bag.start (the prelude runs once, before the snapshot every run starts from).
  let outputLeft = 0;
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
        if (l && l.indexOf("assay-prelude") < 0 && l.indexOf("assay-lib") < 0 && l.indexOf("(native)") < 0)
          return l.trim();
      }
    } catch {}
    return "";
  }
  function recordFailure(message) {
    const at = where();
    host.fail(at ? `${message} (${at})` : message);
  }

  // ---- the lazily compiled library ----------------------------------------------------------------
  let lib = null;
  let libFactory = null;
  function L() {
    if (lib === null) lib = libFactory(recordFailure);
    return lib;
  }
  function plain(v) {
    const t = typeof v;
    return (
      t === "string" ||
      t === "boolean" ||
      t === "undefined" ||
      (t === "number" && !numberIsNaN(v) && v !== 0) ||
      v === null
    );
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
  const log = (...args) => emit(1, `${format(args)}\n`);
  const warn = (...args) => emit(2, `${format(args)}\n`);
  const consoleObj = create(O.prototype);
  const consoleMethods = {
    log,
    info: log,
    debug: log,
    trace: log,
    dir: (v) => emit(1, `${plain(v) && typeof v !== "string" ? StringC(v) : L().inspect(v, 1, [])}\n`),
    table: log,
    warn,
    error: warn,
    assert(cond, ...data) {
      if (cond) return;
      const msg = data.length ? `Assertion failed: ${format(data)}` : "Assertion failed";
      emit(2, `${msg}\n`);
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
  const ASSERT_METHODS = [
    "strictEqual",
    "notStrictEqual",
    "deepStrictEqual",
    "notDeepStrictEqual",
    "equal",
    "notEqual",
    "deepEqual",
    "notDeepEqual",
    "fail",
    "throws",
    "doesNotThrow",
    "match",
  ];
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
      defineProperty(a, m, {
        value: (...args) => apply(L().asserts(strictMode)[m], undefined, args),
        enumerable: true,
      });
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
    throw new ErrorC(`require('${StringC(name)}') is not available in the sandbox`);
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
    } catch {
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
      host.uncaught(`uncaught exception in a timer callback: ${describe(e)}`);
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
            host.uncaught(`uncaught exception in a microtask: ${describe(e)}`);
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
  const params = `eval, ${names.join(", ")}`;
  // Sloppy mode on purpose (the tests are ordinary scripts). Parameters, not const bindings, so that a
  // test's own "var assert = require('assert')" or "function check()" is legal inside the direct eval.
  // (A call through a variable is an indirect eval: the wrapper is compiled in the global scope.)
  const wrapper = evalFn(
    "(function (" +
      params +
      ", __assay_src, __assay_finish, __assay_nonce) {\n" +
      "  return __assay_finish(eval(__assay_src), __assay_nonce);\n})",
  );
  // The host compiles the library (as assay-lib.js, so its stack frames are recognisable) inside a
  // function whose parameters are these same names.
  libFactory = (failFn) => {
    const scope = host.lib(params);
    return apply(apply(scope, undefined, [evalFn, ...values]), undefined, [failFn]);
  };

  function finish(value, nonce) {
    if (typeof value === "object" && value !== null) {
      // A brand check, not a "then" lookup: only a real promise is awaited.
      let pending = true;
      try {
        apply(promiseThen, value, [() => host.done(nonce), (e) => host.rejected(describe(e))]);
      } catch {
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
      get: () => value,
      set: function (v) {
        if (this === obj)
          throw new TypeErrorC(`Cannot assign to read only property '${StringC(k)}' of a frozen built-in`);
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
  const errorCtors = [
    "Error",
    "EvalError",
    "RangeError",
    "ReferenceError",
    "SyntaxError",
    "TypeError",
    "URIError",
    "InternalError",
    "AggregateError",
  ];
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
    async () => {},
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
  bag.start = (outputCap) => {
    outputLeft = outputCap;
  };
  // Compiles the library now, so that the snapshot holds it and no run pays for it.
  bag.prepare = () => {
    L();
  };
  return freeze(bag);
};
