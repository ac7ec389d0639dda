import type { CodeRunner, JudgeClient, Services } from "../../rewards/core/services";
import { type FixtureStore, invalid } from "../../rewards/core/types";
import type { PythonGraderService } from "../../rewards/verifiers/code/python/grade";
import { bucketSchemaStore } from "../../rewards/verifiers/json-schema/store";
import { createHttpJudge } from "../../rewards/verifiers/judge/client";
import { createSqlVerifier } from "../../rewards/verifiers/sql";
import { r2FixtureStore } from "./fixtures";
import { type SandboxClient, type SandboxTransport, sandboxClient } from "./sandbox-client";
import { projectSchemaBucket } from "./schemas";
import { workerdSqlEngine } from "./sql-engine-workerd";

export interface PlatformServices {
  fixtures: FixtureStore;
  verifiers: Services;
}

/**
 * One judge client per endpoint and key for the isolate's life, so its concurrency bound holds across
 * every request the isolate serves.
 */
const judges = new Map<string, JudgeClient>();

function judgeFor(env: Env): JudgeClient | undefined {
  const baseUrl = env.JUDGE_BASE_URL?.trim();
  if (!baseUrl) return undefined;
  const apiKey = env.JUDGE_API_KEY || undefined;
  const key = `${baseUrl}\n${apiKey ?? ""}`;
  let judge = judges.get(key);
  if (!judge) {
    const maxConcurrency = Number(env.JUDGE_MAX_CONCURRENCY) || undefined;
    judge = createHttpJudge({ baseUrl, apiKey, maxConcurrency });
    judges.set(key, judge);
  }
  return judge;
}

/** One sandbox client per binding (or URL list) for the isolate's life, so concurrent requests share calls. */
const clients = new WeakMap<object, SandboxClient>();
const urlClients = new Map<string, SandboxClient>();

/** Loopback only: the override exists for `wrangler dev` on one machine, never to send model code elsewhere. */
const LOOPBACK_URL = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$/;

/** A sandbox Worker reached at a loopback URL (the path of each request is kept, the host replaced). */
function urlTransport(base: string): SandboxTransport {
  return { fetch: (input, init) => fetch(`${base}${new URL(input).pathname}`, init) };
}

/**
 * The client for one sandbox Worker. In production: its service binding. Under `wrangler dev`, a binding
 * to a Worker in another `wrangler dev` process goes through wrangler's own Node process (its dev
 * registry proxies every call), which cost as much CPU per HumanEval-X sample (~0.75 ms) as scoring it, on
 * the same two cores; so `npm run dev` passes the sandbox Workers' loopback URLs instead (`urls`), and
 * calls go from workerd to workerd directly. With several URLs (copies of the same sandbox Worker, each
 * its own single-threaded workerd), calls spread over them.
 */
function clientFor(binding: Fetcher | undefined, urls: string | undefined): SandboxClient | undefined {
  const list = (urls ?? "")
    .split(",")
    .map((u) => u.trim().replace(/\/+$/, ""))
    .filter((u) => LOOPBACK_URL.test(u));
  if (list.length > 0) {
    const key = list.join(",");
    let client = urlClients.get(key);
    if (!client) {
      client = sandboxClient(list.map(urlTransport));
      urlClients.set(key, client);
    }
    return client;
  }
  if (!binding) return undefined;
  let client = clients.get(binding);
  if (!client) {
    client = sandboxClient(binding);
    clients.set(binding, client);
  }
  return client;
}

/**
 * Model-written code (and python graders' grade(), which runs on the model's output) runs in the sandbox
 * Workers (sandbox/handler.ts), never in this isolate: JavaScript and TypeScript behind SANDBOX_JS, Python
 * behind SANDBOX_PYTHON. Without a binding, the runs it would take answer `valid: false`
 * (SANDBOX_FAILED) and say why.
 */
function sandboxFor(env: Env): { code: CodeRunner; python: PythonGraderService | undefined } {
  const js = clientFor(env.SANDBOX_JS, env.ASSAY_SANDBOX_JS_URLS);
  const py = clientFor(env.SANDBOX_PYTHON, env.ASSAY_SANDBOX_PYTHON_URLS);
  const missing = (language: string) =>
    invalid("SANDBOX_FAILED", `the ${language} sandbox Worker is not bound to this Worker`);
  return {
    code: {
      run: (input) => {
        const client = input.language === "python" ? py : js;
        return client ? client.code.run(input) : Promise.resolve(missing(input.language));
      },
    },
    python: py?.python,
  };
}

/** The runtime-bound pieces scorers reach through their context, built from the Worker's bindings. */
/** The pieces for one project: it reads only that project's fixtures and registered schemas. */
export function platformServices(env: Env, projectId: string): PlatformServices {
  const fixtures = r2FixtureStore(env.BLOBS, projectId);
  const sandbox = sandboxFor(env);
  return {
    fixtures,
    verifiers: {
      jsonSchemas: bucketSchemaStore(projectSchemaBucket(env.BLOBS, projectId)),
      sql: createSqlVerifier({ engine: workerdSqlEngine, fixtures }),
      code: sandbox.code,
      python: sandbox.python,
      judge: judgeFor(env),
    },
  };
}
