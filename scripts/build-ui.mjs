#!/usr/bin/env node
// `npm run ui:build`: builds the Worker's static assets into dist/ui (wrangler.toml `[assets]`), so every
// page the Worker serves loads its scripts and styles from its own origin and works offline:
//   - assets/dashboard.js + .css: the dashboard's client islands (ui/client/), with uPlot, bundled by esbuild;
//   - assets/docs.js: the Swagger UI init script for /docs (a file, because the CSP allows no inline script);
//   - assets/swagger/: swagger-ui-dist's bundle and stylesheet, copied from node_modules;
//   - ui/static/* (the favicon) as is.
// Prints each file's size raw and gzipped. The vitest pool refuses to start without this folder.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

function walk(dir) {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "dist", "ui");
const ASSETS = join(OUT, "assets");

// Files are replaced in place, never the folder: a running `wrangler dev` watches it and loses it if it is removed.
mkdirSync(join(ASSETS, "swagger"), { recursive: true });
const before = new Set(walk(OUT));

const produced = new Set();
const result = await build({
  metafile: true,
  absWorkingDir: ROOT,
  entryPoints: { dashboard: "ui/client/dashboard.ts", docs: "ui/client/docs.ts" },
  outdir: ASSETS,
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  legalComments: "none",
  logLevel: "warning",
});

const swagger = join(ROOT, "node_modules", "swagger-ui-dist");
for (const out of Object.keys(result.metafile.outputs)) produced.add(resolve(ROOT, out));
const copy = (from, to) => {
  copyFileSync(from, to);
  produced.add(to);
};
for (const f of ["swagger-ui-bundle.js", "swagger-ui.css"]) copy(join(swagger, f), join(ASSETS, "swagger", f));
for (const f of readdirSync(join(ROOT, "ui", "static"))) copy(join(ROOT, "ui", "static", f), join(ASSETS, f));

for (const stale of before) if (!produced.has(stale)) rmSync(stale);
for (const file of walk(OUT).sort()) {
  const raw = readFileSync(file);
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(
    `[ui] ${relative(OUT, file).padEnd(36)} ${kib(raw.length).padStart(10)}  gzip ${kib(gzipSync(raw).length)}`,
  );
}
