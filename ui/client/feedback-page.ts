// Feedback and champions: each experiment's champion history with every decision's paired test, the feedback
// stream per source (ratings, labels, redactions, processing status), dead letters with a replay button, and
// the curation reports. Feedback text is shown through the same PII redaction the API applies on the way in,
// so a source that stores raw text (redactPii: false) still never puts PII on this page.
import { redactText } from "../../functions/lib/pii";
import { ApiFailure, get, post, type Series } from "./api";
import { MetricChart } from "./chart";
import { fmt, h, link, replace, section, table, when } from "./dom";

interface Page<T> {
  data: T[];
  nextCursor: string | null;
}
interface Experiment {
  id: string;
  name: string;
}
interface Champion {
  run: string | null;
  since: string | null;
  history: { run: string; since: string; until: string | null; reason: string; cycle: string | null }[];
}
interface Policy {
  id: string;
  name: string;
}
interface Decision {
  promoted: boolean;
  reason: string;
  n?: number;
  meanA?: number;
  meanB?: number;
  meanDiff?: number;
  ciLow?: number;
  ciHigh?: number;
  pValue?: number;
  confidence?: number;
  margin?: number;
}
interface Cycle {
  id: string;
  status: string;
  champion: string | null;
  run: string | null;
  curation: string | null;
  dataset: string | null;
  decision: Decision | null;
  error: string | null;
  createdAt: string;
  endedAt: string | null;
}
interface Source {
  id: string;
  name: string;
  experiment: string | null;
  redactPii: boolean;
  events: number;
  lastEventAt: string | null;
}
interface FeedbackEvent {
  id: string;
  source: string | null;
  model: string;
  input: string | { role: string; content: string }[];
  output: string;
  rating: "up" | "down" | number | null;
  correction: string | null;
  labels: string[] | null;
  redactions: Record<string, number>;
  timestamp: string;
  receivedAt: string;
  processedAt: string | null;
}
interface DeadLetter {
  id: string;
  eventId: string;
  source: string | null;
  error: string;
  attempts: number;
  createdAt: string;
  retriedAt: string | null;
  resolvedAt: string | null;
}
interface Curation {
  id: string;
  name: string | null;
  status: string;
  dataset?: string;
  error?: string;
  createdAt: string;
  report?: {
    input: number;
    output: number;
    dropped: { duplicate: number; nearDuplicate: number; contaminated: number; invalid: number; noSignal: number };
    contamination: { holdoutOf: string | null };
    redacted: Record<string, number>;
    format: string;
  };
}

/** Events read per source (the API pages oldest first) for the chart, and the newest of them listed. */
const EVENTS_READ = 2000;
const EVENTS_LISTED = 25;
const DAY_MS = 86_400_000;

/** What was redacted, as the typed markers the stored text carries: `<EMAIL> ×2`. */
function markers(redactions: Record<string, number>) {
  const kinds = Object.entries(redactions).filter(([, n]) => n > 0);
  if (!kinds.length) return h("span", { class: "muted" }, "none");
  return kinds.map(([kind, n]) => h("code", { class: "tag redaction" }, `<${kind.toUpperCase()}> ×${n}`));
}

const shown = (s: string, n = 120) => {
  const t = redactText(s).text;
  return t.length > n ? `${t.slice(0, n)}…` : t;
};
const inputText = (i: FeedbackEvent["input"]) =>
  typeof i === "string" ? i : i.map((m) => `${m.role}: ${m.content}`).join("\n");
const rating = (r: FeedbackEvent["rating"]) => (r === null ? "—" : typeof r === "number" ? fmt(r, 2) : r);

/** Per day: how many events were rated up, down, or with a score (by the event's own time). */
export function ratingsByDay(events: FeedbackEvent[]): Series[] {
  const days = new Map<number, { up: number; down: number; scored: number }>();
  for (const e of events) {
    if (e.rating === null) continue;
    const day = Math.floor(Date.parse(e.timestamp) / DAY_MS);
    const d = days.get(day) ?? { up: 0, down: 0, scored: 0 };
    if (e.rating === "up") d.up++;
    else if (e.rating === "down") d.down++;
    else d.scored++;
    days.set(day, d);
  }
  const sorted = [...days.entries()].sort((a, b) => a[0] - b[0]);
  const series = (name: string, pick: (d: { up: number; down: number; scored: number }) => number): Series => ({
    name,
    points: sorted.map(([day, d]) => ({ step: day, value: pick(d), ts: new Date(day * DAY_MS).toISOString() })),
  });
  return [series("rated up", (d) => d.up), series("rated down", (d) => d.down), series("scored", (d) => d.scored)];
}

/** Per decision (in order): both means, and challenger − champion with its confidence bounds as whiskers. */
export function decisionSeries(cycles: Cycle[]): Series[] {
  const decided = cycles.filter((c) => c.decision && typeof c.decision.meanDiff === "number");
  const at = (c: Cycle) => c.endedAt ?? c.createdAt;
  return [
    {
      name: "champion mean",
      points: decided.map((c, i) => ({ step: i + 1, value: c.decision!.meanA!, ts: at(c) })),
    },
    {
      name: "challenger mean",
      points: decided.map((c, i) => ({ step: i + 1, value: c.decision!.meanB!, ts: at(c) })),
    },
    {
      name: "challenger − champion",
      points: decided.map((c, i) => ({
        step: i + 1,
        value: c.decision!.meanDiff!,
        min: c.decision!.ciLow!,
        max: c.decision!.ciHigh!,
        count: 2,
        ts: at(c),
      })),
    },
  ];
}

async function all<T>(path: string, max = 1000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page: Page<T> = await get<Page<T>>(
      `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    out.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor && out.length < max);
  return out;
}

async function championSection(exp: Experiment) {
  const [champ, policies] = await Promise.all([
    get<Champion>(`/v1/experiments/${exp.id}/champion`),
    all<Policy>(`/v1/experiments/${exp.id}/retraining-policies`),
  ]);
  if (!champ.run && !policies.length) return null;
  const cycles = (await Promise.all(policies.map((p) => all<Cycle>(`/v1/retraining-policies/${p.id}/cycles`))))
    .flat()
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const decided = cycles.filter((c) => c.decision);
  const chart = decided.some((c) => typeof c.decision?.meanDiff === "number")
    ? new MetricChart(`Decisions of ${exp.name}`, decisionSeries(cycles), {
        x: "step",
        log: false,
        smoothing: 0,
        whiskers: true,
      })
    : null;
  const runLink = (id: string | null) => (id ? link(`/ui/runs/${id}`, id) : "—");
  const ci = (d: Decision) =>
    typeof d.ciLow === "number" ? `[${fmt(d.ciLow, 4)}, ${fmt(d.ciHigh, 4)}] at ${d.confidence}` : "—";
  const el = h(
    "section",
    { class: "experiment-champion", "aria-label": `Champion of ${exp.name}`, "data-experiment": exp.id },
    h("h3", {}, link(`/ui/experiments/${exp.id}`, exp.name)),
    h(
      "p",
      {},
      "Champion: ",
      champ.run ? [runLink(champ.run), ` since ${when(champ.since)}`] : h("span", { class: "muted" }, "none yet"),
    ),
    chart?.el ?? null,
    decided.length
      ? [
          table(
            [
              "#",
              "cycle",
              "champion",
              "challenger",
              "champion mean",
              "challenger mean",
              "mean diff",
              "CI (one-sided bounds)",
              "p",
              "n",
              "decision",
            ],
            decided.map((c, i) => {
              const d = c.decision!;
              return [
                i + 1,
                [c.id, h("br"), h("span", { class: "muted" }, when(c.endedAt))],
                runLink(c.champion),
                runLink(c.run),
                fmt(d.meanA, 4),
                fmt(d.meanB, 4),
                fmt(d.meanDiff, 4),
                ci(d),
                typeof d.pValue === "number" ? d.pValue.toPrecision(3) : "—",
                d.n ?? "—",
                h("strong", { class: d.promoted ? "ok" : "error" }, d.promoted ? "promoted" : "rejected"),
              ];
            }),
            "Decisions: challenger vs champion, paired test on the frozen holdout",
          ),
          // The reasons are sentences: listed under the table, numbered as its rows, rather than squeezed
          // into a column.
          h(
            "ol",
            { class: "reasons", "aria-label": "Reasons for the decisions" },
            ...decided.map((c) => h("li", {}, c.decision!.reason)),
          ),
        ]
      : h("p", { class: "muted" }, "No retraining decision yet."),
    cycles.some((c) => !c.decision)
      ? h(
          "p",
          { class: "muted" },
          `Cycles without a decision: ${cycles
            .filter((c) => !c.decision)
            .map((c) => `${c.id} ${c.status}${c.error ? ` (${c.error})` : ""}`)
            .join("; ")}`,
        )
      : null,
    champ.history.length
      ? table(
          ["champion", "since", "until", "reason"],
          champ.history.map((x) => [runLink(x.run), when(x.since), x.until ? when(x.until) : "current", x.reason]),
          "Champion history",
        )
      : null,
  );
  return { el, chart };
}

function status(e: FeedbackEvent, dead: Map<string, DeadLetter>) {
  if (e.processedAt) return h("span", { class: "ok" }, "processed");
  const letter = dead.get(e.id);
  if (letter && !letter.resolvedAt) return h("span", { class: "error" }, "dead-lettered");
  return h("span", { class: "muted" }, "pending");
}

function sourceSection(src: Source, read: FeedbackEvent[], dead: Map<string, DeadLetter>) {
  const redacted = read.filter((e) => Object.keys(e.redactions).length > 0).length;
  const events = read.slice(-EVENTS_LISTED).reverse();
  return h(
    "section",
    { class: "feedback-source", "aria-label": `Feedback from ${src.name}`, "data-source": src.id },
    h("h3", {}, src.name),
    h(
      "p",
      { class: "muted" },
      `${src.id} · ${src.events} processed · last ${when(src.lastEventAt)} · PII ${src.redactPii ? "redacted on the way in" : "stored as sent (redacted here for display)"} · ${redacted} of ${read.length} read had PII redacted · the newest ${events.length} listed`,
    ),
    events.length
      ? table(
          ["when", "model", "rating", "labels", "redacted", "input", "output", "status"],
          events.map((e) => [
            when(e.timestamp),
            e.model,
            rating(e.rating),
            e.labels?.length ? e.labels.join(", ") : "—",
            markers(e.redactions),
            shown(inputText(e.input)),
            shown(e.correction ? `${e.output} → ${e.correction}` : e.output),
            status(e, dead),
          ]),
        )
      : h("p", { class: "muted" }, "No events yet."),
  );
}

function deadLetterRow(d: DeadLetter, sources: Map<string, Source>) {
  const state = h("span", {}, d.resolvedAt ? `resolved ${when(d.resolvedAt)}` : d.retriedAt ? "replayed" : "open");
  const replay = h("button", { type: "button", class: "replay", "data-letter": d.id }, "Replay");
  replay.disabled = !!d.resolvedAt;
  replay.addEventListener("click", async () => {
    replay.disabled = true;
    try {
      const out = await post<DeadLetter>(`/v1/feedback/dead-letters/${d.id}/retry`, {});
      state.textContent = `replay queued ${when(out.retriedAt)}`;
    } catch (err) {
      state.textContent = `replay refused: ${err instanceof ApiFailure ? err.message : String(err)}`;
      replay.disabled = false;
    }
  });
  return [
    d.id,
    d.eventId,
    d.source ? (sources.get(d.source)?.name ?? d.source) : "—",
    d.error,
    d.attempts,
    when(d.createdAt),
    h("span", { role: "status" }, state),
    replay,
  ];
}

function curationRow(c: Curation) {
  const r = c.report;
  const sum = (o: Record<string, number> | undefined) => Object.values(o ?? {}).reduce((a, b) => a + b, 0);
  return [
    c.id,
    c.status,
    when(c.createdAt),
    r ? r.input : "—",
    r ? r.output : "—",
    r ? r.dropped.duplicate + r.dropped.nearDuplicate : "—",
    r ? sum(r.redacted) : "—",
    r ? r.dropped.contaminated : "—",
    r ? r.dropped.invalid + r.dropped.noSignal : "—",
    r?.format ?? "—",
    c.dataset ? link(`/ui/datasets/${c.dataset}`, c.dataset) : (c.error ?? "—"),
  ];
}

export async function feedbackPage(main: HTMLElement) {
  const [exps, sources, letters, curations] = await Promise.all([
    all<Experiment>("/v1/experiments"),
    all<Source>("/v1/feedback-sources"),
    all<DeadLetter>("/v1/feedback/dead-letters?status=all"),
    all<Curation>("/v1/curations", 200),
  ]);
  const [champions, perSource] = await Promise.all([
    Promise.all(exps.map(championSection)),
    Promise.all(sources.map((s) => all<FeedbackEvent>(`/v1/feedback?source=${s.id}`, EVENTS_READ))),
  ]);
  const dead = new Map(letters.map((d) => [d.eventId, d]));
  const bySource = new Map(sources.map((s) => [s.id, s]));
  const ratings = new MetricChart("Ratings per day", ratingsByDay(perSource.flat()), {
    x: "time",
    log: false,
    smoothing: 0,
  });
  const shownChampions = champions.filter((c) => c !== null);
  replace(
    main,
    h("h1", {}, "Feedback and champions"),
    section(
      "Champion history",
      shownChampions.length
        ? shownChampions.map((c) => c.el)
        : h("p", { class: "empty" }, "No champion yet: set one with PUT /v1/experiments/{id}/champion."),
    ),
    section(
      "Feedback",
      sources.length
        ? [ratings.el, ...sources.map((s, i) => sourceSection(s, perSource[i]!, dead))]
        : h("p", { class: "empty" }, "No feedback sources yet: create one with POST /v1/feedback-sources."),
    ),
    section(
      "Dead letters",
      letters.length
        ? table(
            ["letter", "event", "source", "reason", "attempts", "since", "state", "action"],
            letters.map((d) => deadLetterRow(d, bySource)),
          )
        : h("p", { class: "muted" }, "None: every event was processed."),
    ),
    section(
      "Curations",
      curations.length
        ? table(
            [
              "curation",
              "status",
              "created",
              "events read",
              "kept",
              "deduped",
              "redacted",
              "held out",
              "rejected",
              "format",
              "dataset",
            ],
            curations.map(curationRow),
          )
        : h("p", { class: "muted" }, "No curations yet."),
    ),
  );
  for (const c of shownChampions) c.chart?.draw();
  if (sources.length) ratings.draw();
  main.dataset.ready = "true";
}
