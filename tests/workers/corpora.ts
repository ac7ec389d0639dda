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
