import { describe, expect, it } from "vitest";
import { CSP } from "../../functions/ui/csp";
import { ADMIN_KEY, BASE, call, createApiKey, expectError, expectStatus, fetchWorker } from "./helpers";

/** Every src/href a page references, from its HTML. */
function references(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href|action)="([^"]*)"/g)].map((m) => m[1]!);
}

async function login(key: string, origin = BASE) {
  const res = await call("POST", "/ui/login", { key: null, body: { key }, headers: { origin } });
  return res;
}

function sessionCookie(res: { headers: Headers }): string {
  const set = res.headers.get("set-cookie") ?? "";
  const m = /assay_session=([^;]*)/.exec(set);
  if (!m?.[1]) expect.fail(`no session cookie in ${set}`);
  return `assay_session=${m[1]}`;
}

async function loggedInCookie() {
  const { key, id } = await createApiKey("dashboard");
  const res = await login(key);
  expectStatus(res, 200);
  return { key, id, cookie: sessionCookie(res) };
}

const PAGES = [
  "/",
  "/ui/experiments",
  "/ui/experiments/exp_x",
  "/ui/runs/run_x",
  "/ui/sweeps/swp_x",
  "/ui/datasets",
  "/ui/datasets/ds_x",
  "/ui/playground",
  "/ui/feedback",
];

function expectStrictPage(res: { status: number; headers: Headers; text: string }) {
  expect(res.headers.get("content-type")).toContain("text/html");
  expect(res.headers.get("content-security-policy")).toBe(CSP);
  expect(CSP).toContain("default-src 'self'");
  expect(CSP).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
  expect(res.text.startsWith("<!doctype html>")).toBe(true);
  // No inline script or style: every script has a src, and there are no style elements or attributes.
  expect(res.text).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
  expect(res.text).not.toMatch(/<style|\sstyle="/);
  const refs = references(res.text);
  expect(refs.length).toBeGreaterThan(0);
  for (const r of refs) expect(r, `${r} is same-origin`).toMatch(/^\/(?!\/)/);
  return refs;
}

describe("pages and their assets", () => {
  it("serves /docs with the strict CSP, Swagger UI from its own assets and an init script file", async () => {
    const res = await call("GET", "/docs", { key: null });
    expectStatus(res, 200);
    const refs = expectStrictPage(res);
    expect(refs).toEqual([
      "/assets/favicon.svg",
      "/assets/swagger/swagger-ui.css",
      "/assets/docs.css",
      "/assets/swagger/swagger-ui-bundle.js",
      "/assets/docs.js",
    ]);
    const TYPES: Record<string, string> = { svg: "image/svg+xml", css: "text/css", js: "javascript" };
    for (const r of refs) {
      const asset = await call("GET", r, { key: null });
      expectStatus(asset, 200);
      expect(asset.headers.get("content-type")).toContain(TYPES[r.split(".").pop()!]);
      expect(asset.text.length).toBeGreaterThan(0);
    }
    expect((await call("GET", "/assets/swagger/swagger-ui-bundle.js", { key: null })).text).toContain(
      "SwaggerUIBundle",
    );
    const init = await call("GET", "/assets/docs.js", { key: null });
    expect(init.headers.get("content-type")).toContain("javascript");
    expect(init.text).toContain("/openapi.json");
    expect(init.text).toContain("SwaggerUIBundle");
  });

  it("answers every dashboard page without a session with the login form, under the same CSP", async () => {
    for (const path of PAGES) {
      const res = await call("GET", path, { key: null });
      expectStatus(res, 200);
      const refs = expectStrictPage(res);
      expect(refs).toContain("/ui/login");
      expect(res.text).toContain(`name="next" value="${path}"`);
      expect(res.text).toContain('type="password"');
    }
  });

  it("serves every dashboard page to a session, with its page kind and id and same-origin assets only", async () => {
    const { key, cookie } = await loggedInCookie();
    const kinds = [
      "experiments",
      "experiments",
      "experiment",
      "run",
      "sweep",
      "datasets",
      "dataset",
      "playground",
      "feedback",
    ];
    for (const [i, path] of PAGES.entries()) {
      const res = await call("GET", path, { key: null, headers: { cookie } });
      expectStatus(res, 200);
      const refs = expectStrictPage(res);
      expect(refs).toEqual(
        expect.arrayContaining(["/assets/favicon.svg", "/assets/dashboard.css", "/assets/dashboard.js", "/ui/logout"]),
      );
      expect(res.text).toContain(`data-page="${kinds[i]}"`);
      const id = path.split("/")[3];
      if (id) expect(res.text).toContain(`data-id="${id}"`);
      expect(res.text, "the page never holds the key").not.toContain(key);
    }
    for (const asset of ["/assets/dashboard.js", "/assets/dashboard.css"]) {
      const res = await call("GET", asset, { key: null });
      expectStatus(res, 200);
      expect(res.text.length).toBeGreaterThan(1000);
    }
  });

  it("answers an unknown asset with 404", async () => {
    const res = await call("GET", "/assets/nope.js", { key: null });
    expect(res.status).toBe(404);
  });

  it("refuses a malformed id in a deep link", async () => {
    const { cookie } = await loggedInCookie();
    const res = await call("GET", "/ui/runs/a%20b", { key: null, headers: { cookie } });
    expectError(res, 400, "BAD_REQUEST");
  });
});

describe("logging in", () => {
  it("sets an http-only, SameSite=Strict session cookie that does not contain the key", async () => {
    const { key } = await createApiKey("login");
    const res = await login(key);
    expectStatus(res, 200);
    expect(res.json).toEqual({ ok: true, principal: "apiKey" });
    const set = res.headers.get("set-cookie") ?? "";
    expect(set).toMatch(/^assay_session=[\w-]+; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(set).not.toContain(key);
    expect(set).not.toContain(key.slice(3, 20));
  });

  it("marks the cookie Secure over https", async () => {
    const res = await fetchWorker(
      new Request("https://assay.test/ui/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ key: ADMIN_KEY }),
      }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toMatch(/; Secure; SameSite=Strict$/);
  });

  it("takes a form post and redirects to a same-site next path, and home for any other", async () => {
    const { key } = await createApiKey("form");
    for (const [next, to] of <[string, string][]>[
      ["/ui/runs/run_1", "/ui/runs/run_1"],
      ["//evil.example/x", "/"],
      ["https://evil.example/", "/"],
    ]) {
      const res = await call("POST", "/ui/login", {
        key: null,
        raw: new URLSearchParams({ key, next }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expectStatus(res, 303);
      expect(res.headers.get("location")).toBe(to);
      sessionCookie(res);
    }
  });

  it("answers a wrong key in a form with the form again and an error, and sets no cookie", async () => {
    const res = await call("POST", "/ui/login", {
      key: null,
      raw: new URLSearchParams({ key: "ak_wrong", next: "/" }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expectStatus(res, 401);
    expect(res.text).toContain('role="alert"');
    expect(res.text).toContain("unknown API key");
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("refuses a wrong key, a run token, a missing key, a cross-origin post, a body that is not JSON or a form, and a big one", async () => {
    expectError(await login("ak_nope"), 401, "UNAUTHORIZED");
    expectError(await login("rt_sometoken"), 403, "FORBIDDEN");
    expectError(await call("POST", "/ui/login", { key: null, body: {} }), 400, "BAD_REQUEST");
    expectError(await call("POST", "/ui/login", { key: null, body: { key: 5 } }), 400, "BAD_REQUEST");
    expectError(await login(ADMIN_KEY, "https://evil.example"), 403, "FORBIDDEN");
    expectError(
      await call("POST", "/ui/login", { key: null, raw: "{nope", headers: { "content-type": "application/json" } }),
      400,
      "BAD_REQUEST",
    );
    expectError(
      await call("POST", "/ui/login", { key: null, raw: "key", headers: { "content-type": "text/plain" } }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
    expectError(
      await call("POST", "/ui/login", { key: null, body: { key: "x".repeat(20_000) } }),
      413,
      "PAYLOAD_TOO_LARGE",
    );
  });
});

describe("the session cookie on /v1", () => {
  it("authenticates GET requests as the key it was made from", async () => {
    const { cookie } = await loggedInCookie();
    const res = await call("GET", "/v1/experiments", { key: null, headers: { cookie } });
    expectStatus(res, 200);
    expect(res.json).toEqual({ data: expect.any(Array), nextCursor: null });
  });

  it("refuses a state-changing call without the CSRF header or from another origin", async () => {
    const { cookie } = await loggedInCookie();
    const body = { name: "from the page" };
    const bare = await call("POST", "/v1/experiments", { key: null, body, headers: { cookie } });
    expectError(bare, 403, "FORBIDDEN");
    expect(bare.json.error.message).toContain("x-assay-csrf");
    const foreign = await call("POST", "/v1/experiments", {
      key: null,
      body,
      headers: { cookie, "x-assay-csrf": "1", origin: "https://evil.example" },
    });
    expectError(foreign, 403, "FORBIDDEN");
    const ok = await call("POST", "/v1/experiments", {
      key: null,
      body,
      headers: { cookie, "x-assay-csrf": "1", origin: BASE },
    });
    expectStatus(ok, 201);
    expect(ok.json).toMatchObject({ name: "from the page" });
  });

  it("refuses an altered or forged cookie, and one whose key was revoked", async () => {
    const { id, cookie } = await loggedInCookie();
    // One character in the middle of the sealed value, always changed (the last ones may be base64 padding bits).
    const at = Math.floor((cookie.indexOf("=") + 1 + cookie.length) / 2);
    const flipped = cookie.slice(0, at) + (cookie[at] === "A" ? "B" : "A") + cookie.slice(at + 1);
    expect(flipped).not.toBe(cookie);
    for (const bad of [flipped, "assay_session=abc", `assay_session=${"A".repeat(80)}`]) {
      expectError(await call("GET", "/v1/experiments", { key: null, headers: { cookie: bad } }), 401, "UNAUTHORIZED");
    }
    expectStatus(await call("DELETE", `/v1/api-keys/${id}`), 200);
    const after = await call("GET", "/v1/experiments", { key: null, headers: { cookie } });
    expectError(after, 401, "UNAUTHORIZED");
    expect(after.json.error.message).toContain("revoked");
    // A page with a revoked key's cookie shows the login form again.
    const page = await call("GET", "/", { key: null, headers: { cookie } });
    expectStatus(page, 200);
    expect(page.text).toContain('action="/ui/login"');
  });

  it("lets a bearer key win over a cookie", async () => {
    const { cookie } = await loggedInCookie();
    const res = await call("GET", "/v1/experiments", { key: "ak_wrong", headers: { cookie } });
    expectError(res, 401, "UNAUTHORIZED");
  });

  it("is cleared by logging out", async () => {
    const res = await call("POST", "/ui/logout", { key: null, body: {} });
    expectStatus(res, 200);
    expect(res.json).toEqual({ ok: true });
    expect(res.headers.get("set-cookie")).toMatch(/^assay_session=; Max-Age=0; Path=\/; HttpOnly; SameSite=Strict$/);
    const form = await call("POST", "/ui/logout", { key: null });
    expectStatus(form, 303);
    expect(form.headers.get("location")).toBe("/");
  });
});
