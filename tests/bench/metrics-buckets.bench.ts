/**
 * Reading a long series for a chart: GET /v1/runs/{id}/metrics?buckets=1000 (server-side downsampling, last +
 * min/max per bucket) next to reading the same series raw, paged 10,000 points at a time, through
 * `wrangler dev`, in one run. Prints time and bytes for each and the ratios.
 * Run: npm run bench -- buckets
 */
import { api, fmt, startDev } from "./lib/wrangler-dev";

const POINTS = Number(process.env.BENCH_POINTS ?? 100_000);
const ROUNDS = 3;

const server = await startDev();
try {
  const { key } = await api(server, "POST", "/v1/api-keys", { name: "bench" });
  const exp = await api(server, "POST", "/v1/experiments", { name: "bench" }, key);
  const run = await api(server, "POST", `/v1/experiments/${exp.id}/runs`, { kind: "eval" }, key);
  for (let b = 0; b * 10_000 < POINTS; b++) {
    const points = Array.from({ length: Math.min(10_000, POINTS - b * 10_000) }, (_, i) => ({
      name: "train/loss",
      step: b * 10_000 + i,
      value: Math.sin(i / 50) + (i % 7) / 7,
    }));
    await api(server, "POST", `/v1/runs/${run.id}/metrics`, { points }, key);
  }
  const get = async (query: string) => {
    const res = await fetch(`${server.url}/v1/runs/${run.id}/metrics?name=train/loss&${query}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`);
    return { text, body: JSON.parse(text) };
  };
  for (let round = 0; round < ROUNDS; round++) {
    let t = performance.now();
    let cursor: string | null = null;
    let rawPoints = 0;
    let rawBytes = 0;
    do {
      const { text, body } = await get(`limit=10000${cursor ? `&cursor=${cursor}` : ""}`);
      rawBytes += text.length;
      rawPoints += body.series[0]?.points.length ?? 0;
      cursor = body.nextCursor;
    } while (cursor);
    const rawMs = performance.now() - t;
    t = performance.now();
    const down = await get("buckets=1000");
    const downMs = performance.now() - t;
    console.log(
      `round ${round + 1}: raw ${fmt(rawPoints)} points ${fmt(rawBytes / 1024)} KiB ${fmt(rawMs)} ms | ` +
        `buckets=1000 ${fmt(down.body.series[0].points.length)} points ${fmt(down.text.length / 1024)} KiB ${fmt(downMs)} ms | ` +
        `bytes ${fmt(rawBytes / down.text.length, 1)}x fewer, time ratio raw/buckets ${fmt(rawMs / downMs, 2)}`,
    );
  }
} finally {
  await server.stop();
}
