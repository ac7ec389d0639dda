#!/usr/bin/env node
// `npm run rewards:build [-- --check]`: registers every reward module in rewards/modules/*.ts and derives
// each module's version from its code. Writes rewards/registry.gen.ts (only when its text changes).
//
// A module's version is the first 12 hex digits of sha256 over
//   - its esbuild bundle (the module plus every local file it imports, whitespace-minified, so a comment or
//     a reformat does not churn versions but any change of code does), and
//   - the exact installed version of each package it imports (read from node_modules/<pkg>/package.json),
// so upgrading zod, or editing rewards/core/extract-json.ts that a module imports, changes that module's
// version and leaves the others alone.
//
// Each bundle is also imported once to check it: a module must export at least one defineReward(...) value,
// and reward names must be unique across modules. Either failure is a build error (exit 1).
// `--check` writes nothing and exits 1 when rewards/registry.gen.ts is stale (for CI).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const GEN_PATH = "rewards/registry.gen.ts";
const REWARD_BRAND = Symbol.for("assay.reward");

export class RewardBuildError extends Error {}

/** rewards/modules/*.ts, sorted; tests and declaration files are not modules. */
export function listModules(root = ROOT) {
  const dir = join(root, "rewards", "modules");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.endsWith(".d.ts"))
    .map((e) => e.name)
    .sort();
}

/**
 * `zod/v4` → `zod`, `@scope/pkg/x` → `@scope/pkg`; Node builtins keep their `node:` name.
 * @param {string} specifier
 * @returns {string}
 */
export function packageName(specifier) {
  const bare = specifier.startsWith("node:") ? specifier.slice(5) : specifier;
  if (specifier.startsWith("node:") || builtinModules.includes(bare.split("/")[0])) return `node:${bare}`;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

function installedVersion(root, pkg, file) {
  if (pkg.startsWith("node:")) return "builtin";
  const manifest = join(root, "node_modules", pkg, "package.json");
  if (!existsSync(manifest)) {
    throw new RewardBuildError(`rewards/modules/${file} imports "${pkg}", which is not installed in node_modules`);
  }
  return JSON.parse(readFileSync(manifest, "utf8")).version;
}

/**
 * Bundles one module and computes its version.
 * @param {string} root
 * @param {string} file
 * @returns {Promise<{ file: string; code: string; externals: { pkg: string; version: string }[]; version: string }>}
 */
export async function bundleModule(root, file) {
  let result;
  try {
    result = await build({
      entryPoints: [join(root, "rewards", "modules", file)],
      absWorkingDir: root,
      bundle: true,
      packages: "external",
      format: "esm",
      platform: "neutral",
      target: "es2022",
      minifyWhitespace: true,
      legalComments: "none",
      write: false,
      metafile: true,
      outfile: "reward.mjs",
      logLevel: "silent",
    });
  } catch (err) {
    const detail = (err.errors ?? []).map((e) => `${e.location?.file ?? file}: ${e.text}`).join("; ");
    throw new RewardBuildError(`rewards/modules/${file} does not bundle: ${detail || err.message}`);
  }
  const code = result.outputFiles.find((f) => f.path.endsWith(".mjs")).text;
  const specifiers = Object.values(result.metafile.outputs).flatMap((o) =>
    o.imports.filter((i) => i.external).map((i) => i.path),
  );
  const externals = [...new Set(specifiers.map(packageName))]
    .sort()
    .map((pkg) => ({ pkg, version: installedVersion(root, pkg, file) }));
  const hash = createHash("sha256").update(code);
  for (const e of externals) hash.update(`\n${e.pkg}@${e.version}`);
  return { file, code, externals, version: hash.digest("hex").slice(0, 12) };
}

/** Imports a bundle (from under `root`, so its package imports resolve) and returns its reward names. */
async function rewardNames(root, bundled) {
  const dir = join(root, "node_modules", ".cache", "assay-rewards");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${bundled.file.replace(/\.ts$/, "")}-${bundled.version}-${process.pid}.mjs`);
  writeFileSync(path, bundled.code);
  let mod;
  try {
    mod = await import(pathToFileURL(path).href);
  } catch (err) {
    throw new RewardBuildError(`rewards/modules/${bundled.file} fails to load: ${err?.message ?? err}`);
  } finally {
    rmSync(path, { force: true });
  }
  return Object.values(mod)
    .filter((v) => typeof v === "object" && v !== null && v[REWARD_BRAND] === true)
    .map((r) => r.name);
}

function identifier(file) {
  return `m_${file.replace(/\.ts$/, "").replace(/[^A-Za-z0-9_$]/g, "_")}`;
}

/** @param {{ file: string; version: string }[]} modules */
export function renderRegistry(modules) {
  const lines = [
    "// Generated by scripts/build-rewards.mjs from rewards/modules/*.ts. Do not edit: run `npm run rewards:build`.",
    "// version = first 12 hex of sha256(module bundle + exact versions of the packages it imports).",
    ...modules.map((m) => `import * as ${identifier(m.file)} from "./modules/${m.file.replace(/\.ts$/, "")}";`),
    "",
    "export const REWARD_MODULES: { file: string; version: string; exports: Record<string, unknown> }[] = [",
    ...modules.map((m) => {
      const fields = [`file: ${JSON.stringify(m.file)}`, `version: ${JSON.stringify(m.version)}`];
      fields.push(`exports: ${identifier(m.file)}`);
      const line = `  { ${fields.join(", ")} },`;
      // Biome's width: keep the generated file as `biome format` would write it.
      return line.length <= 120 ? line : `  {\n${fields.map((f) => `    ${f},`).join("\n")}\n  },`;
    }),
    "];",
    "",
  ];
  if (modules.length === 0) lines.splice(2, 1);
  return lines.join("\n");
}

/**
 * Builds the registry for the repository at `root`. Returns the generated text, one entry per module
 * ({ file, version, names, externals }) and whether the file on disk differs; writes it when `write`.
 * @param {{ root?: string; write?: boolean }} [opts]
 * @returns {Promise<{ text: string; modules: { file: string; version: string; names: string[]; externals: { pkg: string; version: string }[] }[]; changed: boolean }>}
 */
export async function buildRewards({ root = ROOT, write = true } = {}) {
  const files = listModules(root);
  const modules = [];
  const owner = new Map();
  for (const file of files) {
    const bundled = await bundleModule(root, file);
    const names = await rewardNames(root, bundled);
    if (names.length === 0) {
      throw new RewardBuildError(`rewards/modules/${file} exports no reward: export a defineReward(...) value`);
    }
    for (const name of names) {
      if (owner.has(name)) {
        throw new RewardBuildError(
          `reward name "${name}" is defined twice: rewards/modules/${owner.get(name)} and rewards/modules/${file}`,
        );
      }
      owner.set(name, file);
    }
    modules.push({ file, version: bundled.version, names, externals: bundled.externals });
  }
  const text = renderRegistry(modules);
  const path = join(root, GEN_PATH);
  const changed = !existsSync(path) || readFileSync(path, "utf8") !== text;
  if (write && changed) writeFileSync(path, text);
  return { text, modules, changed };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes("--check");
  try {
    const { modules, changed } = await buildRewards({ write: !check });
    if (check && changed) {
      console.error(`[rewards] ${GEN_PATH} is stale: run \`npm run rewards:build\` and commit it`);
      process.exit(1);
    }
    const list = modules.map((m) => `${m.names.join(", ")}@${m.version}`).join(" ");
    console.error(`[rewards] ${modules.length} module(s)${changed && !check ? ", registry updated" : ""}: ${list}`);
  } catch (err) {
    console.error(`[rewards] ${err instanceof RewardBuildError ? err.message : (err?.stack ?? err)}`);
    process.exit(1);
  }
}
