/**
 * The library half of the sandbox's prelude (prelude.guest.js): value formatting (a Node-like,
 * single-line subset of util.inspect and util.format) and the node:assert functions. The host compiles
 * it (as "assay-lib.js") only when first used, inside a function whose parameters are the pristine
 * globals the prelude captured, so every global name here is the original even after the model's code
 * ran. The file is one arrow function, called with the prelude's recordFailure.
 */
(recordFailure) => {
  // biome-ignore lint/suspicious/noRedundantUseStrict: QuickJS evaluates this file as a sloppy script, not a module.
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
  const numberIsNaN = Number.isNaN;
  // Node's loose assertions: ==, except that NaN equals NaN.
  // biome-ignore lint/suspicious/noDoubleEquals: assert.equal and assert.deepEqual are defined by ==.
  const looselyEqual = (a, b) => a == b || (numberIsNaN(a) && numberIsNaN(b));
  const StringC = String;
  const ErrorC = Error;
  const IDENT = /^[A-Za-z_$][\w$]*$/;
  const INDEX = /^(0|[1-9][0-9]*)$/;

  function quote(s) {
    return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;
  }
  function key(k) {
    if (typeof k === "symbol") return `[${apply(symbolToString, k, [])}]`;
    return IDENT.test(k) ? k : quote(k);
  }
  function tagOf(v) {
    try {
      return apply(objToString, v, []).slice(8, -1);
    } catch {
      return "Object";
    }
  }
  function ctorName(v) {
    try {
      const proto = getPrototypeOf(v);
      if (proto === null) return "[Object: null prototype]";
      const d = getOwnPropertyDescriptor(proto, "constructor");
      const c = d?.value;
      const n = typeof c === "function" ? getOwnPropertyDescriptor(c, "name") : undefined;
      return n && typeof n.value === "string" ? n.value : "";
    } catch {
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
        return `${StringC(v)}n`;
      case "boolean":
      case "undefined":
        return StringC(v);
      case "symbol":
        return apply(symbolToString, v, []);
      case "function": {
        let src = "";
        try {
          src = apply(fnToString, v, []);
        } catch {}
        const d = getOwnPropertyDescriptor(v, "name");
        const n = d && typeof d.value === "string" && d.value ? d.value : "";
        if (src.slice(0, 5) === "class") return `[class ${n || "(anonymous)"}]`;
        return n ? `[Function: ${n}]` : "[Function (anonymous)]";
      }
    }
    if (v === null) return "null";
    if (seen.indexOf(v) >= 0) return "[Circular]";
    const tag = tagOf(v);
    if (tag === "Error" || v instanceof ErrorC) {
      try {
        const st = v.stack;
        const head = apply(errToString, v, []);
        return typeof st === "string" && st ? `${head}\n${st.replace(/\n$/, "")}` : head;
      } catch {
        return "[Error]";
      }
    }
    if (tag === "Date") {
      try {
        return apply(dateToISO, v, []);
      } catch {
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
        if (holes) parts.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
        holes = 0;
        if (parts.length >= 100) {
          parts.push(`... ${v.length - i} more items`);
          break;
        }
        parts.push(inspect(v[i], depth + 1, seen));
      }
      if (holes) parts.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
    } else if (tag === "Map") {
      prefix = `Map(${apply(mapSize, v, [])}) `;
      const it = apply(mapEntries, v, []);
      for (let r = it.next(); !r.done; r = it.next())
        parts.push(`${inspect(r.value[0], depth + 1, seen)} => ${inspect(r.value[1], depth + 1, seen)}`);
    } else if (tag === "Set") {
      prefix = `Set(${apply(setSize, v, [])}) `;
      const it = apply(setValues, v, []);
      for (let r = it.next(); !r.done; r = it.next()) parts.push(inspect(r.value, depth + 1, seen));
    } else {
      const n = ctorName(v);
      if (n && n !== "Object") prefix = `${n} `;
    }
    const ks = ownKeys(v);
    for (let i = 0; i < ks.length; i++) {
      const k = ks[i];
      if (isArray(v) && typeof k === "string" && (k === "length" || INDEX.test(k))) continue;
      const d = getOwnPropertyDescriptor(v, k);
      if (!d?.enumerable) continue;
      if ("value" in d) parts.push(`${key(k)}: ${inspect(d.value, depth + 1, seen)}`);
      else parts.push(`${key(k)}: [${d.get ? (d.set ? "Getter/Setter" : "Getter") : "Setter"}]`);
    }
    seen.pop();
    if (parts.length === 0) return prefix + open + close;
    return `${prefix + open} ${parts.join(", ")} ${close}`;
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
            out += `%${n}`;
            continue;
          }
          const a = args[i++];
          if (n === "s") out += typeof a === "string" ? a : inspect(a, 1, []);
          else if (n === "d" || n === "i") {
            // biome-ignore lint/correctness/useParseIntRadix: Node's %i is parseInt without a radix ("0x1f" is 31).
            const x = typeof a === "bigint" ? a : n === "i" ? parseInt(a) : Number(a);
            out += typeof x === "bigint" ? `${StringC(x)}n` : inspect(x, 0, []);
          } else if (n === "f") out += inspect(parseFloat(a), 0, []);
          else if (n === "j") {
            try {
              out += JSON.stringify(a);
            } catch {
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
    if (strict ? is(a, b) : looselyEqual(a, b)) return true;
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
      if (!is(x, y))
        failWith(m, `Expected values to be strictly equal: ${show(x)} !== ${show(y)}`, x, y, "strictEqual");
    };
    const notStrictEqual = (x, y, m) => {
      if (is(x, y)) failWith(m, `Expected values to be not strictly equal: ${show(x)}`, x, y, "notStrictEqual");
    };
    const deepStrictEqual = (x, y, m) => {
      if (!same(x, y, true, []))
        failWith(m, `Expected values to be strictly deep-equal: ${show(x)} vs ${show(y)}`, x, y, "deepStrictEqual");
    };
    const notDeepStrictEqual = (x, y, m) => {
      if (same(x, y, true, []))
        failWith(m, `Expected values not to be strictly deep-equal: ${show(x)}`, x, y, "notDeepStrictEqual");
    };
    const methods = {
      strictEqual,
      notStrictEqual,
      deepStrictEqual,
      notDeepStrictEqual,
      equal: strictMode
        ? strictEqual
        : (x, y, m) => {
            if (!looselyEqual(x, y)) failWith(m, `${show(x)} == ${show(y)}`, x, y, "==");
          },
      notEqual: strictMode
        ? notStrictEqual
        : (x, y, m) => {
            if (looselyEqual(x, y)) failWith(m, `${show(x)} != ${show(y)}`, x, y, "!=");
          },
      deepEqual: strictMode
        ? deepStrictEqual
        : (x, y, m) => {
            if (!same(x, y, false, []))
              failWith(m, `Expected values to be loosely deep-equal: ${show(x)} vs ${show(y)}`, x, y, "deepEqual");
          },
      notDeepEqual: strictMode
        ? notDeepStrictEqual
        : (x, y, m) => {
            if (same(x, y, false, []))
              failWith(m, `Expected values not to be loosely deep-equal: ${show(x)}`, x, y, "notDeepEqual");
          },
      fail: (m) => failWith(m, "Failed", undefined, undefined, "fail"),
      throws(fn, expected, m) {
        let threw = false;
        try {
          fn();
        } catch (e) {
          threw = true;
          if (typeof expected === "function" && expected.prototype !== undefined && !(e instanceof expected))
            failWith(m, `The error is not an instance of ${show(expected)}`, e, expected, "throws");
        }
        if (!threw)
          failWith(
            typeof expected === "string" ? expected : m,
            "Missing expected exception.",
            undefined,
            expected,
            "throws",
          );
      },
      doesNotThrow(fn, m) {
        try {
          fn();
        } catch (e) {
          failWith(m, `Got unwanted exception: ${show(e)}`, e, undefined, "doesNotThrow");
        }
      },
      match(s, re, m) {
        if (typeof s !== "string" || !re.test(s)) failWith(m, `The input did not match ${StringC(re)}`, s, re, "match");
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
      failWith(message, `The expression evaluated to a falsy value: ${show(value)}`, value, true, "=="),
  });
};
