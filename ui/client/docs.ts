// Starts Swagger UI on /docs from the copy served with the Worker (no CDN), reading /openapi.json, and mends
// the accessibility faults of its markup that a stylesheet cannot (ui/client/docs.css has the contrast
// fixes): each operation's summary button holds its deep-link anchor (a focusable control inside another:
// axe's nested-interactive), and the servers and enum-parameter selects have no label (select-name). Swagger UI renders with
// React as sections open and close, so a MutationObserver mends every subtree as it appears.
import "./docs.css";

declare const SwaggerUIBundle: (opts: Record<string, unknown>) => unknown;

function mend(root: ParentNode) {
  // The button itself toggles the operation and, with deepLinking, writes its #/tag/operation to the URL:
  // the anchor's href adds only a second focus stop inside the button.
  for (const a of root.querySelectorAll<HTMLAnchorElement>(".opblock-summary-control a[href]")) {
    a.removeAttribute("href");
  }
  for (const select of root.querySelectorAll<HTMLSelectElement>("select#servers:not([aria-label])")) {
    select.setAttribute("aria-label", "Server");
  }
  // An enum parameter's select sits in the parameter's row with the name beside it, but not as its label.
  for (const select of root.querySelectorAll<HTMLSelectElement>("tr[data-param-name] select:not([aria-label])")) {
    const row = select.closest("tr")!;
    select.setAttribute("aria-label", `${row.dataset.paramName} (${row.dataset.paramIn ?? "parameter"})`);
  }
}

const host = document.getElementById("swagger-ui")!;
new MutationObserver((records) => {
  for (const r of records) for (const n of r.addedNodes) if (n instanceof Element) mend(n.parentElement ?? n);
}).observe(host, { childList: true, subtree: true });

SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
