// Experiments, an experiment, a sweep (runs overlaid), datasets and a dataset.
import { get, type RunView, type Series } from "./api";
import { type ChartOptions, MetricChart } from "./chart";
import { chartControls } from "./chart-controls";
import { fmt, h, link, replace, section, table, when } from "./dom";

interface Page<T> {
  data: T[];
  nextCursor: string | null;
}
interface Experiment {
  id: string;
  name: string;
  description: string | null;
  tags: string[];
  createdAt: string;
}
interface Standing {
  rank: number | null;
  runId: string;
  name: string | null;
  status: string;
  best: number | null;
  bestStep: number | null;
  last: number | null;
  lastStep: number | null;
  points: number;
}

const METRIC = "reward/mean";

export async function experimentsPage(main: HTMLElement) {
  const exps = await get<Page<Experiment>>("/v1/experiments?limit=200");
  const rows = await Promise.all(
    exps.data.map(async (e) => {
      const [detail, cmp, champ] = await Promise.all([
        get<Experiment & { runs: Record<string, number> }>(`/v1/experiments/${e.id}`),
        get<{ runs: Standing[] }>(`/v1/experiments/${e.id}/compare?metric=${METRIC}&mode=max`),
        get<{ run: string | null }>(`/v1/experiments/${e.id}/champion`),
      ]);
      const best = cmp.runs[0];
      const counts = Object.entries(detail.runs)
        .map(([s, n]) => `${n} ${s}`)
        .join(", ");
      return [
        link(`/ui/experiments/${e.id}`, e.name),
        e.tags.join(", "),
        counts || "no runs",
        best && best.best !== null
          ? [fmt(best.best), " (", link(`/ui/runs/${best.runId}`, best.name ?? best.runId), ")"]
          : "—",
        champ.run ? link(`/ui/runs/${champ.run}`, champ.run) : "—",
        when(e.createdAt),
      ];
    }),
  );
  replace(
    main,
    h("h1", {}, "Experiments"),
    rows.length
      ? table(["experiment", "tags", "runs", `best ${METRIC}`, "champion", "created"], rows)
      : h("p", { class: "empty" }, "No experiments yet: create one with POST /v1/experiments."),
  );
  main.dataset.ready = "true";
}

export async function experimentPage(main: HTMLElement, id: string) {
  const [exp, cmp, runs, champ] = await Promise.all([
    get<Experiment>(`/v1/experiments/${id}`),
    get<{ runs: Standing[] }>(`/v1/experiments/${id}/compare?metric=${METRIC}&mode=max`),
    get<Page<RunView>>(`/v1/runs?experiment=${id}&limit=500`),
    get<{ run: string | null; since: string | null }>(`/v1/experiments/${id}/champion`),
  ]);
  const sweeps = [...new Set(runs.data.map((r) => r.sweepId).filter((s): s is string => !!s))];
  replace(
    main,
    h("h1", {}, exp.name),
    exp.description ? h("p", {}, exp.description) : null,
    section(
      `Runs ranked by best ${METRIC}`,
      table(
        ["rank", "run", "status", "best", "at step", "last", "points"],
        cmp.runs.map((r) => [
          r.rank ?? "—",
          link(`/ui/runs/${r.runId}`, r.name ?? r.runId),
          r.status,
          fmt(r.best),
          r.bestStep ?? "—",
          fmt(r.last),
          r.points,
        ]),
      ),
    ),
    sweeps.length
      ? section("Sweeps", h("ul", {}, ...sweeps.map((s) => h("li", {}, link(`/ui/sweeps/${s}`, s)))))
      : null,
    champ.run
      ? h(
          "p",
          {},
          "Champion: ",
          link(`/ui/runs/${champ.run}`, champ.run),
          ` since ${when(champ.since)} · `,
          link("/ui/feedback", "history and decisions"),
        )
      : h("p", { class: "muted" }, "Champion: none recorded."),
  );
  main.dataset.ready = "true";
}

interface Sweep {
  id: string;
  experimentId: string;
  name: string | null;
  metric: string;
  mode: "max" | "min";
  runs: (Standing & { index: number | null; point: Record<string, unknown> })[];
}

export async function sweepPage(main: HTMLElement, id: string) {
  const sweep = await get<Sweep>(`/v1/sweeps/${id}`);
  const overlay: Series[] = await Promise.all(
    sweep.runs.map(async (r) => {
      const res = await get<{ series: Series[] }>(
        `/v1/runs/${r.runId}/metrics?name=${encodeURIComponent(sweep.metric)}&buckets=800`,
      );
      return { name: r.name ?? r.runId, points: res.series[0]?.points ?? [] };
    }),
  );
  // The run page's smoothing and axes, on the same defaults.
  const opts: ChartOptions = { x: "step", log: false, smoothing: 0.6 };
  const chart = new MetricChart(`${sweep.metric} by run`, overlay, opts);
  replace(
    main,
    h("h1", {}, sweep.name ?? sweep.id),
    h(
      "p",
      { class: "muted" },
      "Experiment ",
      link(`/ui/experiments/${sweep.experimentId}`, sweep.experimentId),
      ` · ranked by ${sweep.metric} (${sweep.mode})`,
    ),
    chartControls(opts, () => chart.draw(overlay, opts)),
    chart.el,
    section(
      "Runs",
      table(
        ["rank", "run", "status", "point", "best", "at step", "last"],
        sweep.runs.map((r) => [
          r.rank ?? "—",
          link(`/ui/runs/${r.runId}`, r.name ?? r.runId),
          r.status,
          JSON.stringify(r.point),
          fmt(r.best),
          r.bestStep ?? "—",
          fmt(r.last),
        ]),
      ),
    ),
  );
  chart.draw();
  main.dataset.ready = "true";
}

interface Dataset {
  id: string;
  name: string | null;
  sha256: string;
  rows: number;
  bytes: number;
  splits: { train: number; holdout: number };
  holdoutFraction: number;
  createdAt: string;
  stats: Record<string, unknown> | null;
  parent: string | null;
  curation: string | null;
}

export async function datasetsPage(main: HTMLElement) {
  const list = await get<Page<Dataset>>("/v1/datasets?limit=200");
  replace(
    main,
    h("h1", {}, "Datasets"),
    list.data.length
      ? table(
          ["dataset", "rows", "train / holdout", "bytes", "created"],
          list.data.map((d) => [
            link(`/ui/datasets/${d.id}`, d.name ?? d.id),
            d.rows,
            `${d.splits.train} / ${d.splits.holdout}`,
            d.bytes,
            when(d.createdAt),
          ]),
        )
      : h("p", { class: "empty" }, "No datasets yet: upload one with POST /v1/datasets."),
  );
  main.dataset.ready = "true";
}

export async function datasetPage(main: HTMLElement, id: string) {
  const [ds, rec] = await Promise.all([
    get<Dataset>(`/v1/datasets/${id}`),
    get<{ recommendation: string; reasons: string[]; explanation: string }>(`/v1/datasets/${id}/recommendation`),
  ]);
  const rowsEl = h("div", {});
  const showRows = async (cursor?: string) => {
    const page = await get<Page<Record<string, unknown>>>(
      `/v1/datasets/${id}/rows?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    replace(
      rowsEl,
      h("ol", { class: "rows" }, ...page.data.map((r) => h("li", {}, h("pre", {}, JSON.stringify(r))))),
      page.nextCursor ? h("button", { type: "button", onclick: () => showRows(page.nextCursor!) }, "Next rows") : null,
    );
  };
  replace(
    main,
    h("h1", {}, ds.name ?? ds.id),
    h("p", { class: "muted" }, `sha256 ${ds.sha256} · ${ds.rows} rows · ${ds.bytes} bytes · ${when(ds.createdAt)}`),
    section(
      "Splits",
      table(
        ["split", "rows"],
        [
          ["train", ds.splits.train],
          ["holdout", ds.splits.holdout],
        ],
      ),
      h("p", { class: "muted" }, `Holdout fraction ${ds.holdoutFraction}`),
    ),
    section("Recommendation", h("p", {}, h("strong", {}, rec.recommendation), ` — ${rec.explanation}`)),
    section(
      "Lineage",
      ds.parent || ds.curation
        ? h(
            "p",
            {},
            ds.parent ? ["Derived from ", link(`/ui/datasets/${ds.parent}`, ds.parent)] : "Curated from feedback",
            ds.curation ? [` by curation ${ds.curation} (`, link("/ui/feedback", "its report"), ")"] : "",
          )
        : h("p", { class: "muted" }, "An original upload (no parent dataset)."),
    ),
    ds.stats ? section("Stats", h("pre", {}, JSON.stringify(ds.stats, null, 2))) : null,
    section("Rows", rowsEl),
  );
  await showRows();
  main.dataset.ready = "true";
}
