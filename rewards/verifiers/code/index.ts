export { type LoadedQuickJs, loadQuickJs } from "./quickjs/load";
export { PRELUDE, PRELUDE_LIB } from "./quickjs/prelude";
export {
  FUEL_PER_MS,
  INTERRUPTS_PER_MS,
  type QuickJsLoader,
  QuickJsSandbox,
  type QuickJsSandboxOptions,
  type SandboxStats,
} from "./quickjs/sandbox";
export { type CodeRunnerBackends, createCodeRunner } from "./runner";
export { extractCode, type Language, prepareJs } from "./source";
export { firstDifference, isIdentifier, normalizeOutput, parseTests, type TestSpec, withCheckCall } from "./tests";
export * from "./types";
export { limitReason, stdioVerdict, testsVerdict } from "./verdict";
