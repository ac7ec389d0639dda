import { type JudgeClient, JudgeError, type JudgeRequest, type JudgeResponse } from "../../core/services";

export interface HttpJudgeOptions {
  /** The endpoint's base URL, up to and including `/v1` (`https://api.openai.com/v1`, a vLLM server, …). */
  baseUrl: string;
  apiKey?: string;
  /** Calls in flight at once across every batch using this client. Default 8. */
  maxConcurrency?: number;
  /** Longest a single call may take, cut further to fit the deadline. Default 30 s. */
  callTimeoutMs?: number;
  /** Further calls after a 429, a 5xx or a network failure. Default 3. */
  maxRetries?: number;
  /** First backoff; doubled each retry, with jitter, and never past the deadline. Default 250 ms. */
  backoffMs?: number;
  fetch?: typeof fetch;
}

/** Counts callers in and out, so that at most `max` calls are in flight. */
class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

const RETRYABLE = (status: number) => status === 429 || status === 408 || status >= 500;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

/** `Retry-After` in ms (seconds or an HTTP date), or undefined. */
function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/**
 * A JudgeClient over HTTP: `POST {baseUrl}/chat/completions` with the rendered messages, the structured
 * output format and the sampling fields. The answer is the first choice's message content.
 */
export function createHttpJudge(opts: HttpJudgeOptions): JudgeClient {
  if (!/^https?:\/\//.test(opts.baseUrl)) throw new Error(`judge base URL must be http(s): ${opts.baseUrl}`);
  const url = `${opts.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  const gate = new Gate(Math.max(1, opts.maxConcurrency ?? 8));
  const callTimeoutMs = opts.callTimeoutMs ?? 30_000;
  const maxRetries = opts.maxRetries ?? 3;
  const backoffMs = opts.backoffMs ?? 250;
  const doFetch = opts.fetch ?? fetch;

  async function attempt(
    req: JudgeRequest,
    body: string,
  ): Promise<{ content: string } | { retryIn?: number; error: string; final: boolean }> {
    const budget = Math.min(callTimeoutMs, req.deadline - Date.now());
    if (budget <= 0) return { error: "the deadline passed before the judge answered", final: true };
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), budget);
    const onAbort = () => controller.abort();
    req.signal?.addEventListener("abort", onAbort);
    try {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
      const res = await doFetch(url, { method: "POST", headers, body, signal: controller.signal });
      const text = await res.text();
      if (!res.ok) {
        const error = `judge endpoint answered HTTP ${res.status}: ${text.slice(0, 200)}`;
        return {
          error,
          final: !RETRYABLE(res.status),
          retryIn: retryAfterMs(res.headers.get("retry-after"), Date.now()),
        };
      }
      let parsed: any;
      try {
        parsed = JSON.parse(text);
      } catch {
        return { error: `judge endpoint answered with a body that is not JSON: ${text.slice(0, 200)}`, final: true };
      }
      const content = parsed?.choices?.[0]?.message?.content;
      if (typeof content !== "string") {
        return { error: "judge endpoint answered without choices[0].message.content", final: true };
      }
      return { content };
    } catch (err) {
      const timedOut = controller.signal.aborted;
      const error = timedOut ? `judge call timed out after ${budget} ms` : `judge endpoint unreachable: ${String(err)}`;
      return { error, final: false };
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
    }
  }

  return {
    complete(req: JudgeRequest): Promise<JudgeResponse> {
      const body = JSON.stringify({
        model: req.model,
        messages: req.messages,
        response_format: req.responseFormat,
        ...req.sampling,
      });
      return gate.run(async () => {
        for (let n = 1; ; n++) {
          const t0 = Date.now();
          const out = await attempt(req, body);
          if ("content" in out) return { content: out.content, latencyMs: Date.now() - t0, attempts: n };
          const timedOut = /timed out|deadline/.test(out.error);
          if (out.final || n > maxRetries || req.signal?.aborted) {
            throw new JudgeError(timedOut ? "DEADLINE_EXCEEDED" : "UPSTREAM_FAILED", out.error, n);
          }
          const wait = out.retryIn ?? backoffMs * 2 ** (n - 1) * (0.5 + Math.random() / 2);
          if (Date.now() + wait >= req.deadline) {
            throw new JudgeError("DEADLINE_EXCEEDED", `${out.error}; no time left to retry before the deadline`, n);
          }
          await sleep(wait, req.signal);
        }
      });
    },
  };
}
