// A few DOM helpers: the islands build their markup with these (textContent, never innerHTML, so model
// output shown on a page cannot inject markup).
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;
export type Kid = Node | string | number | null | undefined | false | Kid[];

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...kids: Kid[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, kids);
  return el;
}

export function append(el: Node, kids: Kid[]) {
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else el.appendChild(typeof k === "object" ? k : document.createTextNode(String(k)));
  }
}

export function replace(el: Element, ...kids: Kid[]) {
  el.replaceChildren();
  append(el, kids);
}

export function table(headers: string[], rows: Kid[][], caption?: string) {
  return h(
    "table",
    {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))),
  );
}

export const fmt = (x: number | null | undefined, digits = 3) =>
  x === null || x === undefined || Number.isNaN(x) ? "—" : Number.isInteger(x) ? String(x) : x.toFixed(digits);

export const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : "—");

export function link(href: string, text: string) {
  return h("a", { href }, text);
}

export function section(title: string, ...kids: Kid[]) {
  return h("section", { "aria-label": title }, h("h2", {}, title), ...kids);
}

export function download(name: string, blob: Blob) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
