#!/usr/bin/env node
// Writes sqlite-callbacks.wasm: a module that imports two JS functions and exports them unchanged, so that
// they become WebAssembly functions that can be stored in SQLite's function table (a progress handler and
// an authorizer). workerd refuses to compile WASM from bytes at run time, so this module is generated
// once here and shipped as a file that the loaders import precompiled. Run: node generate-callbacks.mjs
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const I32 = 0x7f;
const FUNC = 0x60;
const name = (s) => [s.length, ...Buffer.from(s, "ascii")];
const section = (id, body) => [id, body.length, ...body]; // every body here is < 128 bytes: a 1-byte LEB

const types = [
  2,
  ...[FUNC, 1, I32, 1, I32], // type 0: progress handler int(void*)
  ...[FUNC, 6, I32, I32, I32, I32, I32, I32, 1, I32], // type 1: authorizer int(void*, int, char*, char*, char*, char*)
];
const imports = [2, ...name("e"), ...name("progress"), 0, 0, ...name("e"), ...name("authorize"), 0, 1];
const exports = [2, ...name("progress"), 0, 0, ...name("authorize"), 0, 1];
const bytes = Uint8Array.from([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, types),
  ...section(2, imports),
  ...section(7, exports),
]);
// Validates before writing.
new WebAssembly.Module(bytes);
writeFileSync(fileURLToPath(new URL("./sqlite-callbacks.wasm", import.meta.url)), bytes);
console.log(`sqlite-callbacks.wasm: ${bytes.length} bytes`);
