/**
 * The JavaScript the sandbox evaluates before the model's code, kept in real files so that Biome lints
 * them: prelude.guest.js (globals, the test wrapper, the lockdown) and lib.guest.js (formatting and
 * node:assert, compiled on first use). Both are imported as text: wrangler's `Text` rule for
 * `**\/*.guest.js` in workerd, scripts/node-data-hooks.mjs under tsx and the plugin in vitest.config.ts in
 * Node. What each does is in its opening comment.
 */
// tsc reads .js files (allowJs, for the .mjs scripts) and would take these scripts for modules without
// exports; what they are to TypeScript is the text declared in guest-modules.d.ts.
// @ts-expect-error TS2306: a guest script, imported as text
import LIB_SOURCE from "./lib.guest.js";
// @ts-expect-error TS2306: a guest script, imported as text
import PRELUDE_SOURCE from "./prelude.guest.js";

/** A function expression (preceded by its comment): evaluated as a script, it is the script's value. */
export const PRELUDE: string = PRELUDE_SOURCE;

/**
 * lib.guest.js as an expression: without the statement's final semicolon, so that the host can put it
 * inside `return ( … )` in the scope of pristine globals it compiles it in.
 */
export const PRELUDE_LIB: string = LIB_SOURCE.trimEnd().replace(/;$/, "");
