/**
 * RFC 3986 reference resolution (section 5.2), written out rather than left to `new URL`: schema ids
 * use schemes WHATWG URL treats as opaque (`urn:`, `tag:`), against which `new URL` refuses relative
 * references, and the suite checks resolution against those exactly.
 */
const URI_RE = /^(?:([A-Za-z][A-Za-z0-9+.-]*):)?(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/s;

interface Parts {
  scheme?: string;
  authority?: string;
  path: string;
  query?: string;
  fragment?: string;
}

function parse(uri: string): Parts {
  const m = URI_RE.exec(uri)!;
  return { scheme: m[1], authority: m[2], path: m[3] ?? "", query: m[4], fragment: m[5] };
}

function removeDots(path: string): string {
  const input = path.split("/");
  const out: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const seg = input[i]!;
    const last = i === input.length - 1;
    if (seg === ".") {
      if (last) out.push("");
    } else if (seg === "..") {
      if (out.length > 1 || (out.length === 1 && out[0] !== "")) out.pop();
      if (last) out.push("");
    } else out.push(seg);
  }
  return out.join("/");
}

function merge(base: Parts, ref: string): string {
  if (base.authority !== undefined && base.path === "") return `/${ref}`;
  const i = base.path.lastIndexOf("/");
  return i === -1 ? ref : base.path.slice(0, i + 1) + ref;
}

function format(p: Parts): string {
  let s = "";
  if (p.scheme !== undefined) s += `${p.scheme}:`;
  if (p.authority !== undefined) s += `//${p.authority}`;
  s += p.path;
  if (p.query !== undefined) s += `?${p.query}`;
  if (p.fragment !== undefined) s += `#${p.fragment}`;
  return s;
}

/** Resolves `ref` against the absolute URI `base`. */
export function resolveUri(base: string, ref: string): string {
  const r = parse(ref);
  if (r.scheme !== undefined) return format({ ...r, scheme: r.scheme.toLowerCase(), path: removeDots(r.path) });
  const b = parse(base);
  const t: Parts = { scheme: b.scheme, path: "", fragment: r.fragment };
  if (r.authority !== undefined) {
    t.authority = r.authority;
    t.path = removeDots(r.path);
    t.query = r.query;
  } else {
    t.authority = b.authority;
    if (r.path === "") {
      t.path = b.path;
      t.query = r.query ?? b.query;
    } else {
      t.path = removeDots(r.path.startsWith("/") ? r.path : merge(b, r.path));
      t.query = r.query;
    }
  }
  return format(t);
}

/** Splits an absolute URI into the document part and its fragment (without "#"; "" when none). */
export function splitFragment(uri: string): [string, string] {
  const i = uri.indexOf("#");
  return i === -1 ? [uri, ""] : [uri.slice(0, i), uri.slice(i + 1)];
}

export const encodePointer = (token: string) => token.replace(/~/g, "~0").replace(/\//g, "~1");

/** Decodes a URI fragment JSON pointer ("/a~1b/%25") into its tokens. */
export function pointerTokens(fragment: string): string[] {
  let decoded = fragment;
  try {
    decoded = decodeURIComponent(fragment);
  } catch {
    // An invalid percent sequence: read the pointer as written.
  }
  return decoded
    .split("/")
    .slice(1)
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}
