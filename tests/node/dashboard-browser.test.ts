// The dashboard in a real browser: Debian's Chromium driven by playwright-core against `wrangler dev` (its own
// port and fresh local state), on a ledger seeded through the API (tests/node/dashboard/seed.ts). For each
// page: it loads without console errors or requests to other origins, its charts drew, axe finds no serious
// or critical violation; a click on a step shows that step's samples; the playground scores a sample.
// Without a Chromium (standard paths or CHROMIUM_PATH) the tests are skipped, loudly.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, ROOT, startDev } from "../bench/lib/wrangler-dev";
import { type SeededFeedback, seedFeedback } from "./dashboard/feedback-seed";
import { client, GROUP, GROUPS, LIVE_STEPS, rng, type Seeded, STEPS, seed, trainStep } from "./dashboard/seed";

const CANDIDATES = [
  process.env.CHROMIUM_PATH,
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
].filter((p): p is string => !!p);
const CHROMIUM = CANDIDATES.find((p) => existsSync(p));
/** Screenshots of each page, kept as test artifacts (CI uploads the folder; it is git-ignored). */
export const SHOTS = join(ROOT, "test-artifacts", "screenshots");

if (!CHROMIUM) {
  const bar = "#".repeat(100);
  console.warn(
    `\n${bar}\n# SKIPPED: the dashboard browser tests found no Chromium (looked at ${CANDIDATES.join(", ")}).\n` +
      "# Install it: apt-get install -y --no-install-recommends chromium fonts-liberation, or set CHROMIUM_PATH.\n" +
      `${bar}\n`,
  );
}

let server: DevServer;
let seeded: Seeded;
let fed: SeededFeedback;
let browser: Browser;
let context: BrowserContext;

interface Visit {
  page: Page;
  problems: string[];
}

/** Opens a page in the logged-in context and records console errors, page errors and foreign requests. */
async function visit(path: string): Promise<Visit> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(server.url) && !r.url().startsWith("blob:") && !r.url().startsWith("data:"))
      problems.push(`request to another origin: ${r.url()}`);
  });
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
  await page.goto(`${server.url}${path}`);
  await page.waitForSelector("main[data-ready]", { timeout: 15_000 });
  expect(await page.getAttribute("main", "data-ready"), `${path} rendered`).toBe("true");
  return { page, problems };
}

async function expectAccessible(page: Page) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join("; ")})`);
  expect(bad).toEqual([]);
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Per chart: its series count and how many canvas pixels are drawn (not transparent). */
async function charts(page: Page) {
  return page.$$eval("figure.chart", (figs) =>
    figs.map((f) => {
      const canvas = f.querySelector("canvas");
      let inked = 0;
      if (canvas) {
        const data = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) inked++;
      }
      return { chart: f.getAttribute("data-chart"), series: Number(f.getAttribute("data-series")), inked };
    }),
  );
}

describe.skipIf(!CHROMIUM)("the dashboard in Chromium", () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // The test-only fault injection lets one seeded feedback event fail until it is dead-lettered.
    server = await startDev({ vars: { ASSAY_FAULT_INJECTION: "feedback-processing", FEEDBACK_RETRY_BASE_S: "0" } });
    seeded = await seed(server.url, server.adminKey);
    fed = await seedFeedback(server.url, seeded.apiKey);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("shows the login form at / and, after logging in with an API key, the seeded experiment", async () => {
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    expect(await page.locator("h1").textContent()).toBe("Log in to Assay");
    await expectAccessible(page);
    await shot(page, "login");
    await page.fill("#key", seeded.apiKey);
    await Promise.all([page.waitForURL(`${server.url}/`), page.click("button[type=submit]")]);
    await page.waitForSelector("main[data-ready=true]");
    const rows = await page.locator("tbody tr").allInnerTexts();
    // The seeded GRPO experiment, and the retraining demo's (a champion, two challengers, their evals).
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain("arithmetic-grpo");
    expect(rows[0]).toContain("1 running, 3 succeeded");
    expect(rows[1]).toContain("demo loop: teaching feedback");
    // The champion column: none for the GRPO experiment, the promoted challenger for the demo's.
    expect(await page.locator("tbody tr:nth-child(2) td:nth-child(5) a").textContent()).toMatch(/^run_/);
    expect(await page.locator("tbody tr:first-child td:nth-child(5)").textContent()).toBe("—");
    // The best reward/mean of the experiment's runs, linked to its run.
    expect(await page.locator("tbody tr:first-child a[href^='/ui/runs/']").count()).toBe(1);
    const cookies = await context.cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([["assay_session", true, "Strict"]]);
    await page.close();
  });

  it("lists the experiments without console errors and with no serious accessibility violation", async () => {
    const { page, problems } = await visit("/ui/experiments");
    await expectAccessible(page);
    await shot(page, "experiments");
    expect(problems).toEqual([]);
    await page.close();
  });

  it("ranks an experiment's runs and links its sweep", async () => {
    const { page, problems } = await visit(`/ui/experiments/${seeded.experimentId}`);
    expect(await page.locator("section[aria-label^='Runs ranked'] tbody tr").count()).toBe(4);
    expect(await page.locator(`a[href='/ui/sweeps/${seeded.sweepId}']`).count()).toBe(1);
    await expectAccessible(page);
    await shot(page, "experiment");
    expect(problems).toEqual([]);
    await page.close();
  });

  it("draws a run's reward curves and trainer KPIs, and a click on a step shows that step's samples", async () => {
    const { page, problems } = await visit(`/ui/runs/${seeded.runId}`);
    const drawn = await charts(page);
    expect(drawn.map((c) => [c.chart, c.series])).toEqual([
      ["reward", 2],
      ["sub-graders", 3],
      ["signal", 2],
      ["verifier-latency-ms-", 2],
      ["trainer-kpis", 2],
    ]);
    for (const c of drawn) expect(c.inked, `${c.chart} has ink`).toBeGreaterThan(1000);
    expect(await page.locator(".certificate h3").textContent()).toBe("Pre-flight certificate: pass");
    await shot(page, "run");

    // Hovering shows the values under the cursor in the legend.
    const over = (await page.locator("figure[data-chart=reward] .u-over").boundingBox())!;
    await page.mouse.move(over.x + over.width / 2, over.y + over.height / 2);
    const values = await page.locator("figure[data-chart=reward] .u-legend .u-value").allTextContents();
    expect(values[0]).toMatch(/^\d+$/);
    expect(values.slice(1).every((v) => /^-?\d/.test(v))).toBe(true);
    // A click in the middle of the reward chart picks the step under the cursor.
    await page.mouse.click(over.x + over.width / 2, over.y + over.height / 2);
    await page.waitForSelector("#samples article.sample");
    const step = Number(await page.getAttribute("#samples", "data-step"));
    expect(step).toBeGreaterThanOrEqual(0);
    expect(step).toBeLessThan(STEPS);
    expect(await page.locator("#samples h2").textContent()).toBe(`Samples of step ${step}`);
    // Best first: every valid sample of the step (one per step lacks its reference), highest score first.
    const scores = (await page.locator("#samples article.sample header strong").allTextContents()).map((t) =>
      Number(t.replace("score ", "")),
    );
    expect(scores).toHaveLength(GROUP * GROUPS - 1);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(await page.locator("#samples article.sample .metrics").first().textContent()).toMatch(
      /^format 1 · correct 1 · length /,
    );
    expect(await page.locator("#samples article.sample .item code").first().textContent()).toMatch(/"answer":/);
    await expectAccessible(page);
    await page.locator("#samples").evaluate((el) => el.scrollIntoView());
    await shot(page, "run-samples");

    await page.click("#samples button:has-text('Zero-variance groups')");
    await page.waitForSelector("#samples .sample-group h3");
    const outcomes = await page.locator("#samples .sample-group h3").allTextContents();
    expect(outcomes[0]).toBe("all-pass");
    if (step % 2 === 0) expect(outcomes).toContain("all-fail");
    await page.click("#samples button:has-text('Invalid')");
    await page.waitForSelector("#samples .sample-group h3:has-text('INVALID_INPUT')");
    expect(await page.locator("#samples article.sample.invalid").count()).toBe(1);

    // Log scale and wall-time x still draw every chart.
    await page.check("#logscale");
    await page.selectOption("#xaxis", "time");
    for (const c of await charts(page)) expect(c.inked, `${c.chart} drawn on log/time axes`).toBeGreaterThan(500);

    // Export what a chart shows.
    await page.selectOption("#xaxis", "step");
    const [csv] = await Promise.all([
      page.waitForEvent("download"),
      page.click("figure[data-chart=reward] button:has-text('CSV')"),
    ]);
    const lines = readFileSync((await csv.path())!, "utf8")
      .trim()
      .split("\n");
    expect(lines[0]).toBe("step,reward/mean,reward/std");
    expect(lines.slice(1).map((l) => Number(l.split(",")[0]))).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    const [png] = await Promise.all([
      page.waitForEvent("download"),
      page.click("figure[data-chart=reward] button:has-text('PNG')"),
    ]);
    expect(readFileSync((await png.path())!).subarray(0, 8)).toEqual(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    );

    // Drag to zoom: afterwards the left edge of the plot is a later step than before; the drag itself
    // picks no step.
    await page.uncheck("#logscale");
    const plot = (await page.locator("figure[data-chart=reward] .u-over").boundingBox())!;
    const y = plot.y + plot.height / 2;
    await page.mouse.click(plot.x + 5, y);
    await page.waitForSelector("#samples[data-step='0'] article.sample");
    await page.mouse.move(plot.x + plot.width * 0.6, y);
    await page.mouse.down();
    await page.mouse.move(plot.x + plot.width * 0.95, y, { steps: 5 });
    await page.mouse.up();
    expect(await page.getAttribute("#samples", "data-step")).toBe("0");
    await page.mouse.click(plot.x + 5, y);
    await page.waitForFunction(() => {
      const step = (globalThis as any).document.getElementById("samples").dataset.step;
      return Number(step) >= 3;
    });
    expect(problems).toEqual([]);
    await page.close();
  });

  it("redraws a live run's curves as its trainer posts new steps", async () => {
    const { page, problems } = await visit(`/ui/runs/${seeded.liveRunId}`);
    expect(await page.locator(".status").textContent()).toBe("running");
    expect(await page.getAttribute("figure[data-chart=reward]", "data-points")).toBe(String(LIVE_STEPS));
    const api = client(server.url);
    await trainStep(api, seeded.liveRunId, seeded.liveToken, LIVE_STEPS, rng(3));
    // The page polls every 5 s while the run is live.
    await page.waitForSelector(`figure[data-chart=reward][data-points="${LIVE_STEPS + 1}"]`, { timeout: 15_000 });
    expect(problems).toEqual([]);
    await page.close();
  });

  it("overlays a sweep's runs on one chart, ranked", async () => {
    const { page, problems } = await visit(`/ui/sweeps/${seeded.sweepId}`);
    const drawn = await charts(page);
    expect(drawn).toHaveLength(1);
    expect(drawn[0]!.series).toBe(seeded.sweepRunIds.length);
    expect(drawn[0]!.inked).toBeGreaterThan(1000);
    expect(await page.locator("section[aria-label=Runs] tbody tr").count()).toBe(seeded.sweepRunIds.length);
    // The run page's smoothing: each run's EMA drawn over its faded raw line; at 0 only the raw lines.
    const legend = () => page.locator("figure.chart .u-legend .u-series .u-label").allTextContents();
    const names = (await page.locator("section[aria-label=Runs] tbody tr td:nth-child(2)").allTextContents()).sort();
    expect((await legend()).filter((l) => l.endsWith(" (EMA)")).sort()).toEqual(names.map((n) => `${n} (EMA)`));
    await page.locator("#smoothing").fill("0");
    await page.waitForFunction(
      () =>
        ![...(globalThis as any).document.querySelectorAll(".u-legend .u-label")].some((l: any) =>
          l.textContent.endsWith("(EMA)"),
        ),
    );
    expect((await legend()).slice(1).sort()).toEqual(names);
    await page.locator("#smoothing").fill("0.6");
    await expectAccessible(page);
    await shot(page, "sweep");
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows the datasets and a dataset's splits, recommendation, lineage and rows", async () => {
    const list = await visit("/ui/datasets");
    // The arithmetic upload, and the retraining demo's holdout, champion data and two curated versions.
    expect(await list.page.locator("tbody tr").count()).toBe(3 + fed.curations);
    await expectAccessible(list.page);
    expect(list.problems).toEqual([]);
    await list.page.close();
    const { page, problems } = await visit(`/ui/datasets/${seeded.datasetId}`);
    expect(await page.locator("section[aria-label=Recommendation]").textContent()).toMatch(/rft|sft|collect-more-data/);
    expect(await page.locator("section[aria-label=Lineage]").textContent()).toContain("original upload");
    expect(await page.locator("ol.rows li").count()).toBe(20);
    await expectAccessible(page);
    await shot(page, "dataset");
    expect(problems).toEqual([]);
    await page.close();
    // A curated version names the curation that made it.
    const [cur] = (await client(server.url)("GET", "/v1/curations?limit=1", seeded.apiKey)).data;
    const curated = await visit(`/ui/datasets/${cur.dataset}`);
    expect(await curated.page.locator("section[aria-label=Lineage] p").textContent()).toMatch(
      new RegExp(`^(Curated from feedback|Derived from ds_\\w+) by curation ${cur.id} \\(its report\\)$`),
    );
    expect(curated.problems).toEqual([]);
    await curated.page.close();
  });

  it("scores samples in the playground, certifies the grader, and shows validation errors at their config path", async () => {
    const { page, problems } = await visit("/ui/playground");
    await page.click("#score");
    await page.waitForSelector("#playground-out table");
    const rows = await page
      .locator("#playground-out tbody tr")
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 3).map((td) => td.textContent)));
    expect(rows).toEqual([
      ["0", "1", "yes"],
      ["1", "0", "yes"],
      ["2", "1", "yes"],
      ["3", "1", "yes"],
    ]);
    await expectAccessible(page);
    await shot(page, "playground");
    await page.click("#preflight");
    await page.waitForSelector("#playground-out pre.certificate");
    expect(await page.locator("#playground-out h2").textContent()).toMatch(/^Pre-flight certificate: (pass|fail)$/);
    await page.fill(
      "#grader",
      JSON.stringify({ type: "string_check", name: "x", input: "a", reference: "b", operation: "nope" }),
    );
    await page.click("#validate");
    await page.waitForSelector("#playground-out ul.errors li");
    expect(await page.locator("#playground-out ul.errors li code").allTextContents()).toContain("operation");
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows the champion history with each decision's paired test, the feedback stream with redactions, dead letters and curations", async () => {
    const { page, problems } = await visit("/ui/feedback");
    // One decision chart (champion mean, challenger mean, and their difference with its CI as whiskers) and
    // the ratings chart (up, down, scored), both drawn.
    const drawn = await charts(page);
    expect(drawn.map((c) => [c.chart, c.series])).toEqual([
      ["decisions-of-demo-loop-teaching-feedback", 3],
      ["ratings-per-day", 3],
    ]);
    for (const c of drawn) expect(c.inked, `${c.chart} has ink`).toBeGreaterThan(1000);
    // The support events span ten days (how many calendar days that touches depends on the hour).
    expect(Number(await page.getAttribute("figure[data-chart=ratings-per-day]", "data-points"))).toBeGreaterThanOrEqual(
      10,
    );

    // Two decisions of the demo's policy, in order: the teaching corrections promoted, the noise rejected.
    const champion = page.locator(`section[data-experiment='${fed.experimentId}']`);
    const decisions = await champion
      .locator(
        "table:has(caption:text-is('Decisions: challenger vs champion, paired test on the frozen holdout')) tbody tr",
      )
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")));
    expect(decisions.map((d) => [d[0], d[1]!.slice(0, fed.cycles[0]!.id.length), d[10]])).toEqual([
      ["1", fed.cycles[0]!.id, "promoted"],
      ["2", fed.cycles[1]!.id, fed.cycles[1]!.promoted ? "promoted" : "rejected"],
    ]);
    const reasons = await champion.locator("ol.reasons li").allTextContents();
    expect(reasons).toHaveLength(2);
    decisions.forEach((d, i) => {
      // Means, difference, the CI's bounds, p and n, as numbers; the reason quotes the same test.
      for (const cell of [d[4], d[5], d[6]]) expect(cell).toMatch(/^-?\d\.\d{4}$/);
      expect(d[7]).toMatch(/^\[-?\d\.\d{4}, -?\d\.\d{4}\] at 0\.95$/);
      expect(Number(d[8])).toBeGreaterThanOrEqual(0);
      expect(Number(d[9])).toBeGreaterThanOrEqual(50);
      expect(reasons[i]).toMatch(
        new RegExp(
          `^${d[10]}: the 0\\.95 lower bound of challenger − champion is .*\\(mean ${d[6]}, p .*, n ${d[9]}\\)`,
        ),
      );
    });
    // The promoted challenger of the first cycle is the champion now; history lists it above the first model.
    const history = await champion.locator("table:has(caption:text-is('Champion history')) tbody tr").allInnerTexts();
    expect(history).toHaveLength(2);
    expect(history[0]).toContain("current");

    // The support source: ratings and labels, PII shown only as typed markers.
    const support = page.locator(`section[data-source='${fed.supportSourceId}']`);
    expect(await support.locator("h3").textContent()).toBe("support chat");
    expect(await support.locator("p.muted").textContent()).toContain(
      `${fed.redactedEvents} of ${fed.supportEvents} read had PII redacted`,
    );
    const markers = new Set(await support.locator("code.redaction").allTextContents());
    expect([...markers].sort()).toEqual(["<EMAIL> ×1", "<IP> ×1", "<PHONE> ×1"]);
    const text = (await support.textContent()) ?? "";
    for (const pii of ["jane.doe@example.com", "555-0199", "203.0.113.45", "billing@acme.org"])
      expect(text).not.toContain(pii);
    expect(text).toContain("<EMAIL>");
    expect(await support.locator("tbody tr").first().textContent()).toContain("dead-lettered");

    // The dead letter: its reason and attempts; Replay queues it (with the CSRF header) and it is resolved.
    const letter = page.locator("section[aria-label='Dead letters'] tbody tr");
    expect(await letter.count()).toBe(1);
    const cells = await letter.locator("td").allTextContents();
    expect(cells.slice(0, 5)).toEqual([
      fed.deadLetterId,
      expect.stringMatching(/^fb_/),
      "support chat",
      "injected failure: attempt 5 of the 5 set to fail",
      "5",
    ]);
    await expectAccessible(page);
    await shot(page, "feedback");
    await page.click(`button.replay[data-letter='${fed.deadLetterId}']`);
    await page.waitForSelector("section[aria-label='Dead letters'] tbody tr:has-text('replay queued')");
    const api = client(server.url);
    for (let i = 0; ; i++) {
      const all = await api("GET", "/v1/feedback/dead-letters?status=resolved", seeded.apiKey);
      if (all.data.length === 1) break;
      if (i > 100) expect.fail("the replayed event was not resolved");
      await new Promise((r) => setTimeout(r, 200));
    }

    // The curations: one per cycle, each with its counts and the dataset version it made.
    const curations = await page
      .locator("section[aria-label=Curations] tbody tr")
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")));
    expect(curations).toHaveLength(fed.curations);
    for (const c of curations) {
      expect(c[1]).toBe("succeeded");
      for (const n of c.slice(3, 9)) expect(n).toMatch(/^\d+$/);
      expect(Number(c[4])).toBeGreaterThan(0);
      expect(c[9]).toBe("sft");
      expect(c[10]).toMatch(/^ds_/);
    }
    expect(await page.locator("section[aria-label=Curations] tbody tr a[href^='/ui/datasets/ds_']").count()).toBe(
      fed.curations,
    );
    expect(problems).toEqual([]);
    await page.close();
  });

  it("renders the API reference at /docs offline from the Worker's own assets, with no serious accessibility violation", async () => {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("request", (r) => {
      if (!r.url().startsWith(server.url) && !r.url().startsWith("data:"))
        problems.push(`request to another origin: ${r.url()}`);
    });
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
    await page.goto(`${server.url}/docs`);
    await page.waitForSelector(".opblock");
    expect(await page.locator(".opblock").count()).toBeGreaterThan(30);
    expect(await page.locator(".opblock-summary-path", { hasText: "/v1/feedback/dead-letters" }).count()).toBe(2);
    await expectAccessible(page);
    await shot(page, "docs");
    // An opened operation (its parameters, an enum select, the responses) passes too, and its deep link is
    // written to the URL by the summary button alone.
    await page.click("#operations-feedback-get_v1_feedback_dead_letters .opblock-summary-control");
    await page.waitForSelector("#operations-feedback-get_v1_feedback_dead_letters .opblock-body tr[data-param-name]");
    expect(await page.evaluate(() => (globalThis as any).location.hash)).toBe(
      "#/feedback/get_v1_feedback_dead_letters",
    );
    await expectAccessible(page);
    expect(problems).toEqual([]);
    await page.close();
  });
});
