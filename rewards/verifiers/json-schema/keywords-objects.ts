import { addProp, type Builder, type Ctx, type Node } from "./nodes";
import { isObj } from "./schema-index";
import { encodePointer } from "./uri";

/** Keywords on objects: validation (counts, required, dependencies) and applicators (properties and the rest). */

export function objectKeywords(
  b: Builder,
  n: Node,
  s: Record<string, unknown>,
  validation: boolean,
  applicator: boolean,
) {
  const draft = n.res?.draft ?? b.opts.draft;
  const modern = draft === "2019-09" || draft === "2020-12";
  type O = Record<string, unknown>;
  if (validation) {
    const { minProperties: minP, maxProperties: maxP } = s;
    if (typeof minP === "number")
      n.obj.push((v, c) => {
        const k = Object.keys(v as O).length;
        return k >= minP || c.fail(n, "minProperties", `has ${k} properties, fewer than ${minP}`);
      });
    if (typeof maxP === "number")
      n.obj.push((v, c) => {
        const k = Object.keys(v as O).length;
        return k <= maxP || c.fail(n, "maxProperties", `has ${k} properties, more than ${maxP}`);
      });
    if (Array.isArray(s.required) && s.required.length) {
      const req = s.required as string[];
      n.obj.push((v, c) => {
        for (const r of req) {
          if (!Object.hasOwn(v as O, r)) {
            c.path.push(r);
            c.fail(n, "required", "required property is missing");
            c.path.pop();
            return false;
          }
        }
        return true;
      });
    }
    if (modern && isObj(s.dependentRequired)) {
      const deps = Object.entries(s.dependentRequired as Record<string, string[]>);
      n.obj.push((v, c) => requires(n, v as O, deps, "dependentRequired", c));
    }
  }
  // `dependencies` (draft 7; kept in 2019-09/2020-12 for compatibility, as their metaschemas reserve it
  // and @cfworker/json-schema honoured it): a list of names is validation, a schema is an applicator.
  if (isObj(s.dependencies)) {
    const lists: [string, string[]][] = [];
    const schemas: [string, Node][] = [];
    for (const [k, d] of Object.entries(s.dependencies)) {
      if (Array.isArray(d)) lists.push([k, d as string[]]);
      else schemas.push([k, b.node(d, `${n.loc}/dependencies/${encodePointer(k)}`)]);
    }
    if (lists.length) n.obj.push((v, c) => requires(n, v as O, lists, "dependencies", c));
    for (const [k, d] of schemas) n.obj.push((v, c, ann) => !Object.hasOwn(v as O, k) || b.inPlace(d, v, c, ann));
  }
  if (!applicator) return;
  if (modern && isObj(s.dependentSchemas)) {
    for (const [k, d] of Object.entries(s.dependentSchemas)) {
      const dn = b.node(d, `${n.loc}/dependentSchemas/${encodePointer(k)}`);
      n.obj.push((v, c, ann) => !Object.hasOwn(v as O, k) || b.inPlace(dn, v, c, ann));
    }
  }
  if ("propertyNames" in s && (modern || draft === "7")) {
    const pn = b.node(s.propertyNames, `${n.loc}/propertyNames`);
    n.obj.push((v, c) => {
      for (const k of Object.keys(v as O)) if (!b.child(pn, k, k, c)) return false;
      return true;
    });
  }
  const props = isObj(s.properties)
    ? new Map(Object.entries(s.properties).map(([k, x]) => [k, b.node(x, `${n.loc}/properties/${encodePointer(k)}`)]))
    : null;
  const patterns = isObj(s.patternProperties)
    ? Object.entries(s.patternProperties).map(
        ([p, x]) => [new RegExp(p, "u"), b.node(x, `${n.loc}/patternProperties/${encodePointer(p)}`)] as const,
      )
    : [];
  const additional =
    "additionalProperties" in s ? b.node(s.additionalProperties, `${n.loc}/additionalProperties`) : null;
  if (props || patterns.length || additional) {
    n.obj.push((v, c, ann) => {
      const o = v as O;
      if (props && !patterns.length && !additional) {
        // The common case: iterate the (usually fewer) declared properties.
        for (const [k, pn] of props) {
          if (!Object.hasOwn(o, k)) continue;
          if (!b.child(pn, o[k], k, c)) return false;
          addProp(ann, k);
        }
        return true;
      }
      for (const k of Object.keys(o)) {
        let matched = false;
        const pn = props?.get(k);
        if (pn) {
          matched = true;
          if (!b.child(pn, o[k], k, c)) return false;
        }
        for (const [re, pp] of patterns) {
          if (re.test(k)) {
            matched = true;
            if (!b.child(pp, o[k], k, c)) return false;
          }
        }
        if (!matched && additional) {
          matched = true;
          if (!b.child(additional, o[k], k, c)) {
            if (additional.bool === false) {
              const e = c.errors[c.errors.length - 1]!;
              e.keyword = "additionalProperties";
              e.error = "the property is not allowed (additionalProperties: false)";
            }
            return false;
          }
        }
        if (matched) addProp(ann, k);
      }
      return true;
    });
  }
  if (modern && "unevaluatedProperties" in s && b.on("unevaluated")) {
    const un = b.node(s.unevaluatedProperties, `${n.loc}/unevaluatedProperties`);
    n.readsAnn = true;
    n.obj.push((v, c, ann) => {
      if (ann?.allProps) return true;
      const o = v as O;
      for (const k of Object.keys(o)) {
        if (ann?.props?.has(k)) continue;
        if (!b.child(un, o[k], k, c)) return false;
      }
      if (ann) ann.allProps = true;
      return true;
    });
  }
}

function requires(n: Node, o: Record<string, unknown>, deps: [string, string[]][], kw: string, c: Ctx): boolean {
  for (const [k, needs] of deps) {
    if (!Object.hasOwn(o, k)) continue;
    for (const r of needs) {
      if (!Object.hasOwn(o, r)) {
        c.path.push(r);
        c.fail(n, kw, `required because "${k}" is present`);
        c.path.pop();
        return false;
      }
    }
  }
  return true;
}
