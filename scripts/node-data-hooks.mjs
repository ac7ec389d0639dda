// Node module hooks: `import table from "./x.bin"` gives the file's bytes as an ArrayBuffer, as the
// Worker's `Data` rule in wrangler.toml does in workerd, and `import src from "./x.guest.js"` gives guest
// code (JavaScript the QuickJS sandbox evaluates) as a string, as its `Text` rule does, so the same module
// runs in both.
// Registered by scripts/node-data-imports.mjs (`tsx --import ./scripts/node-data-imports.mjs …`);
// vitest.config.ts does the same for the Node test project with a plugin.
import { readFileSync } from "node:fs";

export const DATA_EXTENSIONS = [".bin"];
// `import src from "./x.guest.py"` (or `.guest.js`) gives the file's text, as the Worker's `Text` rule does.
export const TEXT_EXTENSIONS = [".guest.py", ".guest.js"];

export function dataModuleSource(fileUrl) {
  return [
    'import { readFileSync } from "node:fs";',
    `const bytes = readFileSync(new URL(${JSON.stringify(fileUrl)}));`,
    "export default bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);",
  ].join("\n");
}

/** A module whose default export is the file's text (read when the module loads, like the Text rule's). */
export function textModuleSource(fileUrl) {
  return `export default ${JSON.stringify(readFileSync(new URL(fileUrl), "utf8"))};`;
}

export async function load(url, context, nextLoad) {
  if (url.startsWith("file:") && TEXT_EXTENSIONS.some((ext) => url.endsWith(ext))) {
    return { format: "module", shortCircuit: true, source: textModuleSource(url) };
  }
  if (url.startsWith("file:") && DATA_EXTENSIONS.some((ext) => url.endsWith(ext))) {
    return { format: "module", shortCircuit: true, source: dataModuleSource(url) };
  }
  return nextLoad(url, context);
}
