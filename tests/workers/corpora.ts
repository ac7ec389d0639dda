import { inject } from "vitest";

/** Fetches a file of ../shared/corpora (served over loopback by tests/global-setup.ts); null when absent. */
export async function corpus(path: string): Promise<Response | null> {
  const base = inject("corporaUrl");
  if (!base) return null;
  const res = await fetch(`${base}/${path}`);
  if (!res.ok) throw new Error(`corpus file ${path}: HTTP ${res.status}`);
  return res;
}

export const hasCorpora = () => Boolean(inject("corporaUrl"));

/** The rows of a gzipped JSONL file of ../shared/corpora (the HumanEval sets). */
export async function corpusJsonlGz<T>(path: string): Promise<T[]> {
  const res = await corpus(path);
  if (!res?.body) throw new Error(`corpus file ${path} is not available`);
  const text = await new Response(res.body.pipeThrough(new DecompressionStream("gzip"))).text();
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}
