// The grader playground: paste a grader and samples; validate, score, or certify (pre-flight).
import { ApiFailure, post } from "./api";
import { fmt, h, replace, table } from "./dom";

const EXAMPLE_GRADER = {
  type: "string_check",
  name: "exact answer",
  input: "{{sample.output_text}}",
  reference: "{{item.answer}}",
  operation: "eq",
};
const EXAMPLE_SAMPLES = [
  { completion: "4", item: { answer: "4" }, group: 0 },
  { completion: "5", item: { answer: "4" }, group: 0 },
  { completion: "7", item: { answer: "7" }, group: 1 },
  { completion: "7", item: { answer: "7" }, group: 1 },
];

interface Result {
  score: number;
  valid: boolean;
  reason?: string;
  metrics?: Record<string, { score: number; reason?: string }>;
  error?: { code: string; message: string };
}

function parse(label: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${label} is not JSON: ${(err as Error).message}`);
  }
}

const pathText = (p: (string | number)[]) => (p.length ? p.join(".") : "(root)");

export function playgroundPage(main: HTMLElement) {
  const grader = h("textarea", { id: "grader", rows: 10, spellcheck: "false" });
  grader.value = JSON.stringify(EXAMPLE_GRADER, null, 2);
  const samples = h("textarea", { id: "samples", rows: 10, spellcheck: "false" });
  samples.value = JSON.stringify(EXAMPLE_SAMPLES, null, 2);
  const out = h("div", { id: "playground-out", "aria-live": "polite" });

  const run = (what: "validate" | "score" | "preflight") => async () => {
    replace(out, h("p", { role: "status" }, "Working…"));
    try {
      const g = parse("The grader", grader.value);
      const v = await post<{ valid: boolean; errors: { path: (string | number)[]; message: string }[] }>(
        "/v1/graders/validate",
        { grader: g },
      );
      if (!v.valid) {
        replace(
          out,
          h("h2", {}, "Validation errors"),
          h(
            "ul",
            { class: "errors" },
            ...v.errors.map((e) => h("li", {}, h("code", {}, pathText(e.path)), ": ", e.message)),
          ),
        );
        return;
      }
      if (what === "validate") {
        replace(out, h("p", { class: "ok" }, "The grader config is valid."));
        return;
      }
      const s = parse("The samples", samples.value);
      if (what === "score") {
        const res = await post<{ grader: { ref: string }; results: Result[]; summary: { mean: number | null } }>(
          "/v1/graders/run",
          { grader: g, samples: s },
        );
        replace(
          out,
          h("h2", {}, `Scores (${res.grader.ref}, mean ${fmt(res.summary.mean)})`),
          table(
            ["#", "score", "valid", "reason", "metrics"],
            res.results.map((r, i) => [
              i,
              fmt(r.score),
              r.valid ? "yes" : `no (${r.error?.code ?? ""})`,
              r.reason ?? r.error?.message ?? "",
              Object.entries(r.metrics ?? {})
                .map(([k, m]) => `${k}: ${fmt(m.score)}`)
                .join(", "),
            ]),
          ),
        );
        return;
      }
      const cert = await post<Record<string, unknown> & { verdict: string; reasons?: string[] }>(
        "/v1/graders/preflight",
        { grader: g, samples: s },
      );
      replace(
        out,
        h("h2", {}, `Pre-flight certificate: ${cert.verdict}`),
        cert.reasons?.length ? h("ul", {}, ...cert.reasons.map((r) => h("li", {}, r))) : null,
        h("pre", { class: "certificate" }, JSON.stringify(cert, null, 2)),
      );
    } catch (err) {
      const issues = err instanceof ApiFailure ? (err.body.error?.issues ?? []) : [];
      replace(
        out,
        h("p", { class: "error", role: "alert" }, (err as Error).message),
        issues.length
          ? h(
              "ul",
              { class: "errors" },
              ...issues.map((i) => h("li", {}, h("code", {}, pathText(i.path)), ": ", i.message)),
            )
          : null,
      );
    }
  };

  replace(
    main,
    h("h1", {}, "Grader playground"),
    h(
      "div",
      { class: "playground" },
      h("div", {}, h("label", { for: "grader" }, "Grader config (JSON)"), grader),
      h("div", {}, h("label", { for: "samples" }, "Samples (JSON array of { completion, item, group })"), samples),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", id: "validate", onclick: run("validate") }, "Validate"),
      h("button", { type: "button", id: "score", onclick: run("score") }, "Score"),
      h("button", { type: "button", id: "preflight", onclick: run("preflight") }, "Pre-flight"),
    ),
    out,
  );
  main.dataset.ready = "true";
}
