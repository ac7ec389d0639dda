import type { Builder, Node } from "./nodes";
import { firstDuplicate } from "./values";

/** Keywords on arrays: validation (counts, uniqueItems) and applicators (items, contains, unevaluatedItems). */

export function arrayKeywords(
  b: Builder,
  n: Node,
  s: Record<string, unknown>,
  validation: boolean,
  applicator: boolean,
) {
  const draft = n.res?.draft ?? b.opts.draft;
  const modern = draft === "2019-09" || draft === "2020-12";
  type A = unknown[];
  if (validation) {
    const { minItems, maxItems } = s;
    if (typeof minItems === "number")
      n.arr.push(
        (v, c) =>
          (v as A).length >= minItems || c.fail(n, "minItems", `has ${(v as A).length} items, fewer than ${minItems}`),
      );
    if (typeof maxItems === "number")
      n.arr.push(
        (v, c) =>
          (v as A).length <= maxItems || c.fail(n, "maxItems", `has ${(v as A).length} items, more than ${maxItems}`),
      );
    if (s.uniqueItems === true) {
      n.arr.push((v, c) => {
        const dup = firstDuplicate(v as A);
        return dup === null || c.fail(n, "uniqueItems", `items ${dup[0]} and ${dup[1]} are equal`);
      });
    }
  }
  if (!applicator) return;
  const tupleSrc = draft === "2020-12" ? s.prefixItems : s.items;
  const tuple = Array.isArray(tupleSrc)
    ? tupleSrc.map((x, i) => b.node(x, `${n.loc}/${draft === "2020-12" ? "prefixItems" : "items"}/${i}`))
    : null;
  let rest: Node | null = null;
  if (draft === "2020-12") {
    if ("items" in s && !Array.isArray(s.items)) rest = b.node(s.items, `${n.loc}/items`);
  } else if (tuple) {
    if ("additionalItems" in s) rest = b.node(s.additionalItems, `${n.loc}/additionalItems`);
  } else if ("items" in s) rest = b.node(s.items, `${n.loc}/items`);
  if (tuple || rest) {
    n.arr.push((v, c, ann) => {
      const a = v as A;
      let i = 0;
      if (tuple) {
        for (; i < Math.min(tuple.length, a.length); i++) if (!b.child(tuple[i]!, a[i], String(i), c)) return false;
        if (ann && i > ann.items) ann.items = i;
      }
      if (rest) {
        for (; i < a.length; i++) if (!b.child(rest, a[i], String(i), c)) return false;
        if (ann) ann.allItems = true;
      }
      return true;
    });
  }
  if ("contains" in s && (modern || draft === "7")) {
    const cn = b.node(s.contains, `${n.loc}/contains`);
    const min = modern && typeof s.minContains === "number" ? s.minContains : 1;
    const max = modern && typeof s.maxContains === "number" ? s.maxContains : Number.POSITIVE_INFINITY;
    const annotates = draft === "2020-12";
    n.arr.push((v, c, ann) => {
      const a = v as A;
      const mark = c.errors.length;
      let matched = 0;
      for (let i = 0; i < a.length; i++) {
        c.path.push(String(i));
        const ok = b.evaluate(cn, a[i], c, b.annFor(a[i]));
        c.path.pop();
        if (ok) {
          matched++;
          if (ann && annotates) {
            if (!ann.itemSet) ann.itemSet = new Set();
            ann.itemSet.add(i);
          } else if (matched > max) break;
        }
      }
      c.errors.length = mark;
      if (matched < min) return c.fail(n, "contains", `${matched} items match contains, fewer than ${min}`);
      if (matched > max) return c.fail(n, "contains", `${matched} items match contains, more than ${max}`);
      if (ann && annotates && matched === a.length) ann.allItems = true;
      return true;
    });
  }
  if (modern && "unevaluatedItems" in s && b.on("unevaluated")) {
    const un = b.node(s.unevaluatedItems, `${n.loc}/unevaluatedItems`);
    n.readsAnn = true;
    n.arr.push((v, c, ann) => {
      if (ann?.allItems) return true;
      const a = v as A;
      for (let i = ann?.items ?? 0; i < a.length; i++) {
        if (ann?.itemSet?.has(i)) continue;
        if (!b.child(un, a[i], String(i), c)) return false;
      }
      if (ann) ann.allItems = true;
      return true;
    });
  }
}
