// The JavaScript sandbox Worker (sandbox/js/wrangler.toml): QuickJS, for code tests in JavaScript and
// TypeScript, behind the main Worker's SANDBOX_JS binding. Its bundle holds no Pyodide.
import { sandboxWorker } from "../handler";
import { jsCodeRunner, quickJsHeapBytes, quickJsSandbox } from "../quickjs";

export default sandboxWorker({
  languages: ["javascript", "typescript"],
  code: jsCodeRunner,
  heldBytes: quickJsHeapBytes,
  stats: () => ({ quickjs: { ...quickJsSandbox.stats, heapBytes: quickJsHeapBytes() } }),
});
