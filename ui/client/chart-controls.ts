// The controls every page with reward curves shares: smoothing (EMA, the raw line faded behind), x by step
// or wall time, log scale. They change `opts` in place and call `onChange` to redraw.
import type { ChartOptions } from "./chart";
import { h } from "./dom";

export function chartControls(opts: ChartOptions, onChange: () => void) {
  const smooth = h("input", { type: "range", id: "smoothing", min: 0, max: 0.99, step: 0.01, value: opts.smoothing });
  const smoothOut = h("output", { for: "smoothing" }, String(opts.smoothing));
  smooth.addEventListener("input", () => {
    opts.smoothing = Number(smooth.value);
    smoothOut.textContent = smooth.value;
    onChange();
  });
  const x = h(
    "select",
    { id: "xaxis" },
    h("option", { value: "step" }, "step"),
    h("option", { value: "time" }, "wall time"),
  );
  x.addEventListener("change", () => {
    opts.x = x.value as "step" | "time";
    onChange();
  });
  const log = h("input", { type: "checkbox", id: "logscale" });
  log.addEventListener("change", () => {
    opts.log = log.checked;
    onChange();
  });
  return h(
    "div",
    { class: "controls" },
    h("label", { for: "smoothing" }, "Smoothing (EMA)"),
    smooth,
    smoothOut,
    h("label", { for: "xaxis" }, "x axis"),
    x,
    h("label", { for: "logscale" }, log, " log scale"),
  );
}
