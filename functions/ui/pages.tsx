/** @jsxImportSource hono/jsx */
import type { Child } from "hono/jsx";

/** Where each page's client island finds what to render; the island reads the data through /v1. */
export type PageKind =
  | "experiments"
  | "experiment"
  | "run"
  | "sweep"
  | "datasets"
  | "dataset"
  | "playground"
  | "feedback";

const NAV: [href: string, label: string][] = [
  ["/ui/experiments", "Experiments"],
  ["/ui/datasets", "Datasets"],
  ["/ui/feedback", "Feedback & champions"],
  ["/ui/playground", "Grader playground"],
  ["/docs", "API reference"],
];

function Shell(props: { title: string; children: Child; nav?: boolean }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <link rel="icon" href="/assets/favicon.svg" type="image/svg+xml" />
        <title>{`${props.title} · Assay`}</title>
        <link rel="stylesheet" href="/assets/dashboard.css" />
        <script type="module" src="/assets/dashboard.js" />
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">
            Assay
          </a>
          {props.nav !== false && (
            <nav aria-label="Main">
              <ul>
                {NAV.map(([href, label]) => (
                  <li>
                    <a href={href}>{label}</a>
                  </li>
                ))}
              </ul>
              <form method="post" action="/ui/logout">
                <button type="submit">Log out</button>
              </form>
            </nav>
          )}
        </header>
        {props.children}
      </body>
    </html>
  );
}

const TITLES: Record<PageKind, string> = {
  experiments: "Experiments",
  experiment: "Experiment",
  run: "Run",
  sweep: "Sweep",
  datasets: "Datasets",
  dataset: "Dataset",
  playground: "Grader playground",
  feedback: "Feedback and champions",
};

/** A dashboard page: the shell plus an empty main that the island fills from the API. */
export function DashboardPage(props: { page: PageKind; id?: string }) {
  const title = props.id ? `${TITLES[props.page]} ${props.id}` : TITLES[props.page];
  return (
    <Shell title={title}>
      <main id="main" data-page={props.page} data-id={props.id ?? ""}>
        <h1>{title}</h1>
        <p class="loading" role="status">
          Loading…
        </p>
      </main>
    </Shell>
  );
}

/** The login form: a plain form post, so it works before any script has loaded. */
export function LoginPage(props: { next: string; error?: string }) {
  return (
    <Shell title="Log in" nav={false}>
      <main id="main" data-page="login" class="login">
        <h1>Log in to Assay</h1>
        <form method="post" action="/ui/login">
          <input type="hidden" name="next" value={props.next} />
          <label for="key">API key</label>
          <input id="key" name="key" type="password" autocomplete="current-password" required />
          <button type="submit">Log in</button>
          {props.error && (
            <p class="error" role="alert">
              {props.error}
            </p>
          )}
        </form>
        <p class="hint">The key is exchanged for a session cookie (http-only, same-site); the page never holds it.</p>
      </main>
    </Shell>
  );
}

/** /docs: Swagger UI (with contrast fixes in docs.css) from this Worker's own assets, started by a script file (the CSP allows no inline script). */
export function DocsPage() {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <link rel="icon" href="/assets/favicon.svg" type="image/svg+xml" />
        <title>Assay API reference</title>
        <link rel="stylesheet" href="/assets/swagger/swagger-ui.css" />
        <link rel="stylesheet" href="/assets/docs.css" />
        <script src="/assets/swagger/swagger-ui-bundle.js" />
        <script type="module" src="/assets/docs.js" />
      </head>
      <body>
        {/* Not a <main>: Swagger UI renders its own main landmark inside. */}
        <div id="swagger-ui" />
      </body>
    </html>
  );
}
