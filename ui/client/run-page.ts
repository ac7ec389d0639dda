// The run page: live reward curves, trainer KPIs, and the samples of a clicked step.
import { get, type RunView, type Series, type StepSample, type StepSamples } from "./api";
import { type ChartOptions, MetricChart } from "./chart";
import { chartControls } from "./chart-controls";
import { fmt, h, link, replace, section, table, when } from "./dom";

const LIVE = new Set(["queued", "dispatching", "running"]);
const REFRESH_MS = 5000;

/** Which chart a metric goes on; whatever no group claims is a trainer KPI. */
const GROUPS: [title: string, match: (name: string) => boolean][] = [
  ["Reward", (n) => n === "reward/mean" || n === "reward/std"],
  ["Sub-graders", (n) => /^rewards\/.+\/mean$/.test(n)],
  ["Signal", (n) => n === "frac_reward_zero_std" || n === "reward/invalid_rate"],
  ["Verifier latency (ms)", (n) => n.startsWith("verifier/latency_")],
];
const HIDDEN = new Set(["reward/samples"]);

export function groupSeries(series: Series[]): [string, Series[]][] {
  const out: [string, Series[]][] = GROUPS.map(([t]) => [t, []]);
  const kpis: Series[] = [];
  for (const s of series) {
    if (HIDDEN.has(s.name)) continue;
    const i = GROUPS.findIndex(([, m]) => m(s.name));
    if (i >= 0) out[i]![1].push(s);
    else kpis.push(s);
  }
  out.push(["Trainer KPIs", kpis]);
  return out;
}

const preview = (x: unknown, n = 240) => {
  const t = JSON.stringify(x);
  return t.length > n ? `${t.slice(0, n)}…` : t;
};

function sampleCard(s: StepSample) {
  const metrics = Object.entries(s.metrics)
    .map(([k, m]) => `${k} ${fmt(m.score)}${m.reason ? ` (${m.reason})` : ""}`)
    .join(" · ");
  return h(
    "article",
    { class: `sample ${s.valid ? "" : "invalid"}` },
    h(
      "header",
      {},
      h("strong", {}, s.valid ? `score ${fmt(s.score)}` : `invalid: ${s.error?.code ?? "error"}`),
      s.group !== null ? h("span", { class: "tag" }, `group ${s.group}`) : null,
      metrics ? h("span", { class: "metrics" }, metrics) : null,
      h("span", { class: "muted" }, `batch ${s.batch.slice(0, 8)} #${s.index}`),
    ),
    h("p", { class: "reason" }, s.reason ?? s.error?.message ?? ""),
    h("p", { class: "item" }, h("span", { class: "muted" }, "item "), h("code", {}, preview(s.item))),
    h(
      "pre",
      { class: "completion", title: `${s.completionChars} characters${s.truncated ? " (cut)" : ""}` },
      s.completion,
    ),
  );
}

const FILTERS = [
  ["best", "Best"],
  ["worst", "Worst"],
  ["zero-variance", "Zero-variance groups"],
  ["invalid", "Invalid"],
] as const;

async function showStep(panel: HTMLElement, runId: string, step: number, filter: string) {
  panel.dataset.step = String(step);
  const body = h("div", { class: "samples-body" }, h("p", { role: "status" }, "Loading samples…"));
  const tabs = h(
    "div",
    { class: "tabs", role: "group", "aria-label": "Which samples" },
    ...FILTERS.map(([f, label]) =>
      h(
        "button",
        {
          type: "button",
          "aria-pressed": f === filter ? "true" : "false",
          onclick: () => showStep(panel, runId, step, f),
        },
        label,
      ),
    ),
  );
  replace(panel, h("h2", {}, `Samples of step ${step}`), tabs, body);
  const res = await get<StepSamples>(`/v1/runs/${runId}/steps/${step}/samples?filter=${filter}&limit=50`);
  const summary = h(
    "p",
    { class: "muted" },
    `${res.kept} kept, ${res.valid} valid; zero-variance groups: ${res.zeroVarianceGroups.allPass} all-pass, ${res.zeroVarianceGroups.allFail} all-fail, ${res.zeroVarianceGroups.allEqual} tied; invalid by code: ${
      Object.entries(res.invalidByCode)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ") || "none"
    }`,
  );
  if (res.data.length === 0) {
    replace(body, summary, h("p", { class: "empty" }, "No samples of this kind at this step."));
    return;
  }
  if (filter === "zero-variance" || filter === "invalid") {
    const key = (s: StepSample) => (filter === "invalid" ? (s.error?.code ?? "UNKNOWN") : (s.groupOutcome ?? ""));
    const heads = [...new Set(res.data.map(key))];
    replace(
      body,
      summary,
      ...heads.map((k) =>
        h(
          "section",
          { class: "sample-group" },
          h("h3", {}, k),
          ...res.data.filter((s) => key(s) === k).map(sampleCard),
        ),
      ),
    );
  } else replace(body, summary, ...res.data.map(sampleCard));
}

export async function runPage(main: HTMLElement, id: string) {
  let run = await get<RunView>(`/v1/runs/${id}`);
  const opts: ChartOptions = { x: "step", log: false, smoothing: 0.6 };
  const charts = new Map<string, MetricChart>();
  const chartsEl = h("div", { class: "charts" });
  const samples = h(
    "section",
    { class: "samples", id: "samples", "aria-live": "polite", "aria-label": "Step samples" },
    h("h2", {}, "Samples"),
    h("p", { class: "muted" }, "Click a point on a chart to see that step's samples."),
  );
  opts.onStep = (step) => void showStep(samples, id, step, "best");
  const head = h("div", { class: "run-head" });
  const details = h("div", { class: "run-details" });
  let series: Series[] = [];
  const certEl = h("div", { class: "certificate" });
  get<{ id: string; verdict: string; reasons?: string[]; createdAt: string }>(`/v1/runs/${id}/certificate`)
    .then((cert) =>
      replace(
        certEl,
        h("h3", {}, `Pre-flight certificate: ${cert.verdict}`),
        h("p", { class: "muted" }, `${cert.id} · ${when(cert.createdAt)}`),
        cert.reasons?.length ? h("ul", {}, ...cert.reasons.map((r) => h("li", {}, r))) : null,
      ),
    )
    .catch(() => replace(certEl, h("p", { class: "muted" }, "No pre-flight certificate for this grader config.")));

  const renderHead = () => {
    replace(
      head,
      h("h1", {}, run.name ?? run.id, " ", h("span", { class: `status ${run.status}` }, run.status)),
      h(
        "p",
        { class: "muted" },
        "Experiment ",
        link(`/ui/experiments/${run.experimentId}`, run.experimentId),
        run.sweepId ? [" · sweep ", link(`/ui/sweeps/${run.sweepId}`, run.sweepId)] : null,
        run.dataset ? [" · dataset ", link(`/ui/datasets/${run.dataset.id}`, run.dataset.id)] : null,
        ` · grader ${run.grader ?? "—"} · ${run.backend ?? ""} · base ${run.baseModel ?? "—"}`,
      ),
      run.stopReason ? h("p", {}, `Stop reason: ${run.stopReason}`) : null,
      run.error ? h("p", { class: "error" }, `Error: ${run.error}`) : null,
    );
    replace(
      details,
      section(
        "Status history",
        table(
          ["status", "reason", "at"],
          (run.statusHistory ?? []).map((s) => [s.status, s.reason ?? "", when(s.at)]),
        ),
      ),
      section(
        "Artifacts",
        run.artifacts?.length
          ? table(
              ["kind", "uri", "at"],
              run.artifacts.map((a) => [a.kind, a.uri, when(a.createdAt)]),
            )
          : h("p", { class: "muted" }, "None yet."),
      ),
      section(
        "Pinned grader",
        h("pre", {}, JSON.stringify((run.spec as { grader?: unknown } | null)?.grader ?? null, null, 2)),
        certEl,
      ),
      run.summary ? section("Summary", h("pre", {}, JSON.stringify(run.summary, null, 2))) : null,
    );
  };

  const drawAll = () => {
    for (const [title, group] of groupSeries(series)) {
      let chart = charts.get(title);
      if (!chart) {
        chart = new MetricChart(title, group, opts);
        charts.set(title, chart);
        chartsEl.appendChild(chart.el);
      }
      chart.draw(group, opts);
    }
  };

  const load = async () => {
    const buckets = Math.max(200, Math.min(2000, Math.round(chartsEl.clientWidth || 800)));
    series = (await get<{ series: Series[] }>(`/v1/runs/${id}/metrics?buckets=${buckets}`)).series;
  };

  renderHead();
  replace(main, head, chartControls(opts, drawAll), chartsEl, samples, details);
  await load();
  drawAll();
  main.dataset.ready = "true";

  const timer = setInterval(async () => {
    if (!LIVE.has(run.status)) {
      clearInterval(timer);
      return;
    }
    run = await get<RunView>(`/v1/runs/${id}`);
    await load();
    renderHead();
    drawAll();
  }, REFRESH_MS);
}
