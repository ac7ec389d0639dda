// Reward curves with uPlot: each metric drawn raw (faded) and EMA-smoothed, with a min/max band where the
// server downsampled several points into one; x by step or wall time; log scale; hover values in the
// legend; drag to zoom (double-click resets); a click picks the step under the cursor.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Series } from "./api";
import { download, h } from "./dom";

export interface ChartOptions {
  x: "step" | "time";
  log: boolean;
  /** EMA weight in [0, 1): 0 draws the raw line only. */
  smoothing: number;
  /**
   * Draw each series' min–max as whiskers at its points (a confidence interval per decision, say) rather
   * than as a band (a downsampled bucket's range), with the points marked.
   */
  whiskers?: boolean;
  onStep?: (step: number) => void;
}

const COLORS = ["#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bf8700", "#0a7ea4", "#cf222e", "#6e7781"];

function fade(hex: string, alpha: number) {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** TensorBoard's debiased EMA: early points are not pulled towards 0. Gaps stay gaps. */
export function ema(ys: (number | null)[], weight: number): (number | null)[] {
  let last = 0;
  let n = 0;
  return ys.map((y) => {
    if (y === null || !Number.isFinite(y)) return null;
    last = last * weight + (1 - weight) * y;
    n++;
    return weight === 0 ? y : last / (1 - weight ** n);
  });
}

interface Aligned {
  steps: number[];
  xs: number[];
  cols: { name: string; raw: (number | null)[]; min: (number | null)[]; max: (number | null)[]; banded: boolean }[];
}

/** Puts every series on one x axis: the union of their steps (by step or by each step's first timestamp). */
export function align(series: Series[], x: "step" | "time"): Aligned {
  const tsOf = new Map<number, number>();
  for (const s of series) {
    for (const p of s.points) {
      const t = Date.parse(p.ts) / 1000;
      const prev = tsOf.get(p.step);
      if (prev === undefined || t < prev) tsOf.set(p.step, t);
    }
  }
  const steps = [...tsOf.keys()].sort((a, b) => (x === "time" ? tsOf.get(a)! - tsOf.get(b)! : a - b));
  const pos = new Map(steps.map((s, i) => [s, i]));
  const cols = series.map((s) => {
    const raw: (number | null)[] = steps.map(() => null);
    const min: (number | null)[] = steps.map(() => null);
    const max: (number | null)[] = steps.map(() => null);
    let banded = false;
    for (const p of s.points) {
      const i = pos.get(p.step)!;
      raw[i] = p.value;
      min[i] = p.min ?? p.value;
      max[i] = p.max ?? p.value;
      if ((p.count ?? 1) > 1) banded = true;
    }
    return { name: s.name, raw, min, max, banded };
  });
  return { steps, xs: steps.map((s) => (x === "time" ? tsOf.get(s)! : s)), cols };
}

/** The y range that holds the points and every whisker, with a little room. */
function padded(lo: number, hi: number, whiskers: { min: (number | null)[]; max: (number | null)[] }[]) {
  for (const w of whiskers) {
    for (const y of w.min) if (y !== null && y < lo) lo = y;
    for (const y of w.max) if (y !== null && y > hi) hi = y;
  }
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.08;
  return [lo - pad, hi + pad] as uPlot.Range.MinMax;
}

function drawWhiskers(u: uPlot, whiskers: { min: (number | null)[]; max: (number | null)[]; color: string }[]) {
  if (!whiskers.length) return;
  const ctx = u.ctx;
  const cap = 5 * devicePixelRatio;
  ctx.save();
  ctx.lineWidth = 1.5 * devicePixelRatio;
  for (const w of whiskers) {
    ctx.strokeStyle = w.color;
    ctx.beginPath();
    u.data[0].forEach((x, i) => {
      const lo = w.min[i];
      const hi = w.max[i];
      if (lo === null || lo === undefined || hi === null || hi === undefined) return;
      const px = u.valToPos(x, "x", true);
      const y1 = u.valToPos(lo, "y", true);
      const y2 = u.valToPos(hi, "y", true);
      ctx.moveTo(px, y1);
      ctx.lineTo(px, y2);
      ctx.moveTo(px - cap, y1);
      ctx.lineTo(px + cap, y1);
      ctx.moveTo(px - cap, y2);
      ctx.lineTo(px + cap, y2);
    });
    ctx.stroke();
  }
  ctx.restore();
}

export class MetricChart {
  readonly el: HTMLElement;
  private readonly plotEl: HTMLDivElement;
  private plot: uPlot | null = null;
  private aligned: Aligned = { steps: [], xs: [], cols: [] };

  constructor(
    readonly title: string,
    private series: Series[],
    private opts: ChartOptions,
  ) {
    const slug = title.toLowerCase().replace(/\W+/g, "-");
    this.plotEl = h("div", { class: "plot" });
    this.el = h(
      "figure",
      { class: "chart", "data-chart": slug },
      h(
        "figcaption",
        {},
        h("span", {}, title),
        h("button", { type: "button", onclick: () => this.exportCsv(slug) }, "CSV"),
        h("button", { type: "button", onclick: () => this.exportPng(slug) }, "PNG"),
      ),
      this.plotEl,
    );
  }

  /** Draws (again) with new data or options. */
  draw(series = this.series, opts = this.opts) {
    this.series = series;
    this.opts = opts;
    this.plot?.destroy();
    this.plot = null;
    this.el.dataset.series = String(series.length);
    this.aligned = align(series, opts.x);
    this.el.dataset.points = String(this.aligned.steps.length);
    if (series.length === 0 || this.aligned.steps.length === 0) {
      this.plotEl.replaceChildren(h("p", { class: "empty" }, "No points yet."));
      return;
    }
    this.plotEl.replaceChildren();
    const logSafe = (ys: (number | null)[]) => (opts.log ? ys.map((y) => (y !== null && y > 0 ? y : null)) : ys);
    const data: (number | null)[][] = [this.aligned.xs];
    const cfg: uPlot.Series[] = [{ label: opts.x === "time" ? "time" : "step" }];
    const bands: uPlot.Band[] = [];
    const whiskers: { min: (number | null)[]; max: (number | null)[]; color: string }[] = [];
    this.aligned.cols.forEach((c, i) => {
      const color = COLORS[i % COLORS.length]!;
      if (c.banded && opts.whiskers) whiskers.push({ min: logSafe(c.min), max: logSafe(c.max), color });
      else if (c.banded) {
        data.push(logSafe(c.max), logSafe(c.min));
        cfg.push(
          { label: `${c.name} max`, stroke: fade(color, 0.25), width: 0.5 },
          { label: `${c.name} min`, stroke: fade(color, 0.25), width: 0.5 },
        );
        bands.push({ series: [data.length - 2, data.length - 1], fill: fade(color, 0.12) });
      }
      data.push(logSafe(c.raw));
      cfg.push({
        label: c.name,
        stroke: opts.smoothing > 0 ? fade(color, 0.3) : color,
        width: 1,
        spanGaps: true,
        ...(opts.whiskers ? { points: { show: true, size: 8, fill: color } } : {}),
      });
      if (opts.smoothing > 0) {
        data.push(logSafe(ema(c.raw, opts.smoothing)));
        cfg.push({ label: `${c.name} (EMA)`, stroke: color, width: 2, spanGaps: true });
      }
    });
    const width = Math.max(320, Math.min(this.el.clientWidth || 800, 1400) - 16);
    const steps = this.aligned.steps;
    this.plot = new uPlot(
      {
        width,
        height: 240,
        series: cfg,
        bands,
        scales: {
          x: {
            time: opts.x === "time",
            // Whiskers at the first and last point would be cut in half by the plot's edge.
            ...(opts.whiskers && opts.x === "step" ? { range: (_u, lo, hi) => [lo - 0.5, hi + 0.5] } : {}),
          },
          y: {
            distr: opts.log ? 3 : 1,
            ...(whiskers.length ? { range: (_u, lo, hi) => padded(lo, hi, whiskers) } : {}),
          },
        },
        // Whiskers mark discrete decisions: whole-number ticks on a step axis.
        axes: [opts.whiskers && opts.x === "step" ? { incrs: [1, 2, 5, 10, 20, 50, 100] } : {}, { size: 60 }],
        cursor: { drag: { x: true, y: false } },
        hooks: {
          draw: [(u) => drawWhiskers(u, whiskers)],
          ready: [
            (u) => {
              // A drag zooms; only a click that did not move picks a step.
              let downX = 0;
              u.over.addEventListener("mousedown", (e) => {
                downX = e.clientX;
              });
              u.over.addEventListener("click", (e) => {
                if (Math.abs(e.clientX - downX) > 3) return;
                const idx = u.cursor.idx;
                if (idx !== null && idx !== undefined && steps[idx] !== undefined) this.opts.onStep?.(steps[idx]);
              });
              u.over.addEventListener("dblclick", () =>
                u.setScale("x", { min: u.data[0][0]!, max: u.data[0].at(-1)! }),
              );
            },
          ],
        },
      },
      data as uPlot.AlignedData,
      this.plotEl,
    );
  }

  private exportCsv(slug: string) {
    const { steps, xs, cols } = this.aligned;
    // A whisker's ends are data too (a confidence interval): they go in columns of their own.
    const ends = this.opts.whiskers ? cols.filter((c) => c.banded) : [];
    const header = [
      "step",
      ...(this.opts.x === "time" ? ["time"] : []),
      ...cols.map((c) => c.name),
      ...ends.flatMap((c) => [`${c.name} low`, `${c.name} high`]),
    ];
    const lines = [header.join(",")];
    steps.forEach((s, i) => {
      const t = this.opts.x === "time" ? [new Date(xs[i]! * 1000).toISOString()] : [];
      const lohi = ends.flatMap((c) => [c.min[i] ?? "", c.max[i] ?? ""]);
      lines.push([s, ...t, ...cols.map((c) => c.raw[i] ?? ""), ...lohi].join(","));
    });
    download(`${slug}.csv`, new Blob([`${lines.join("\n")}\n`], { type: "text/csv" }));
  }

  private exportPng(slug: string) {
    this.plot?.ctx.canvas.toBlob((b) => b && download(`${slug}.png`, b), "image/png");
  }
}
