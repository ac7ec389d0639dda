// Node's composition root: the services and scoring context that the score CLI (scripts/score.ts), the
// benches (tests/bench/) and the Node tests score with, built from local folders instead of the Worker's
// bindings (functions/lib/services.ts is the Worker's counterpart).
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Services } from "../../rewards/core/services";
import type { Fixture, FixtureStore, Logger, ScoreContext } from "../../rewards/core/types";
import { createCodeRunner, loadQuickJs, QuickJsSandbox } from "../../rewards/verifiers/code";
import { createPythonGraderService } from "../../rewards/verifiers/code/python/grade";
import { nodePyodideAssets } from "../../rewards/verifiers/code/python/node-assets";
import { PyodideSandbox } from "../../rewards/verifiers/code/python/sandbox";
import { nodeQuickJsWasm } from "../../rewards/verifiers/code/quickjs/node-wasm";
import { contentHash } from "../../rewards/verifiers/json-schema/canonical";
import type { RegisteredSchema, SchemaStore } from "../../rewards/verifiers/json-schema/compile";
import { normalizeSchemaId } from "../../rewards/verifiers/json-schema/store";
import { createSqlVerifier } from "../../rewards/verifiers/sql";
import { nodeSqlEngine } from "./sql-engine-node";

const FIXTURE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Fixtures from local folders: `<dir>/<name>.sqlite` (a database) or `<dir>/<name>.sql` (a script). */
export function dirFixtureStore(dirs: string[]): FixtureStore {
  // A file is read and hashed again only when its size or mtime changed.
  const loaded = new Map<string, { stamp: string; fixture: Fixture }>();
  return {
    async get(name) {
      if (!FIXTURE_NAME.test(name)) return null;
      for (const dir of dirs) {
        for (const kind of ["sqlite", "sql"] as const) {
          const path = join(dir, `${name}.${kind}`);
          const st = statSync(path, { throwIfNoEntry: false });
          if (!st?.isFile()) continue;
          const stamp = `${st.size}:${st.mtimeMs}`;
          const hit = loaded.get(path);
          if (hit?.stamp === stamp) return hit.fixture;
          const bytes = new Uint8Array(readFileSync(path));
          const sha256 = createHash("sha256").update(bytes).digest("hex");
          const fixture: Fixture = { name, kind, sha256, bytes };
          loaded.set(path, { stamp, fixture });
          return fixture;
        }
      }
      return null;
    },
  };
}

const stderrLogger: Logger = {
  debug: () => {},
  info: (msg, data) => process.stderr.write(`${JSON.stringify({ level: "info", msg, ...data })}\n`),
  warn: (msg, data) => process.stderr.write(`${JSON.stringify({ level: "warn", msg, ...data })}\n`),
};

export interface NodeContextOptions {
  fixtureDirs?: string[];
  services?: Services;
  log?: Logger;
}

/**
 * A JSON Schema registry from local folders: every `*.json` file whose `$id` is a string, found by that id
 * (normalised as the Worker's registry does). Files are read when the store is made.
 */
export function dirSchemaStore(dirs: string[]): SchemaStore {
  const byId = new Map<string, RegisteredSchema>();
  for (const dir of dirs) {
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith(".json")) continue;
      const schema = JSON.parse(readFileSync(join(dir, name), "utf8")) as unknown;
      if (!schema || typeof schema !== "object" || Array.isArray(schema)) continue;
      const id = normalizeSchemaId((schema as { $id?: unknown }).$id);
      if (id.ok && !byId.has(id.id)) byId.set(id.id, { id: id.id, sha256: contentHash(schema), schema });
    }
  }
  return {
    get(id) {
      const n = normalizeSchemaId(id);
      return n.ok ? (byId.get(n.id) ?? null) : null;
    },
  };
}

/** The JavaScript sandbox in Node: QuickJS from node_modules. */
export const nodeQuickJsSandbox = () =>
  new QuickJsSandbox({ load: (memory) => loadQuickJs(nodeQuickJsWasm(), memory) });

/**
 * The Python sandbox in Node: Pyodide from node_modules, its main module metered with fuel unless `metered`
 * is false (the bench's peer). It boots on first use.
 */
export const nodePythonSandbox = (metered = true) => new PyodideSandbox({ assets: () => nodePyodideAssets(metered) });

export interface NodeServicesOptions {
  fixtureDirs?: string[];
  /** Folders of JSON Schemas that `json_schema` graders may reference by `$id`. */
  schemaDirs?: string[];
}

/**
 * Verifier services in Node, the one place the score CLI, the benches and the Node tests build them: SQL
 * (sql.js), JavaScript (QuickJS) and Python (Pyodide, the same sandbox code the Worker runs, booted on the
 * first Python sample only), and the JSON Schema registry. The judge needs an endpoint and is left out.
 */
export async function nodeServices(opts: NodeServicesOptions = {}): Promise<Services> {
  // One interpreter for code tests and python graders, as in the sandbox Worker.
  const python = nodePythonSandbox();
  return {
    sql: createSqlVerifier({ engine: nodeSqlEngine, fixtures: dirFixtureStore(opts.fixtureDirs ?? []) }),
    code: createCodeRunner({
      javascript: nodeQuickJsSandbox(),
      python,
    }),
    python: createPythonGraderService(python),
    jsonSchemas: dirSchemaStore(opts.schemaDirs ?? []),
  };
}

/** A scoring context for Node: fixtures from local folders, services as given, logs to stderr. */
export function nodeContext(opts: NodeContextOptions = {}): Omit<ScoreContext, "signal" | "deadline"> {
  return {
    fixtures: dirFixtureStore(opts.fixtureDirs ?? []),
    log: opts.log ?? stderrLogger,
    services: opts.services ?? {},
  };
}
