// The Python sandbox Worker (sandbox/python/wrangler.toml): Pyodide, for code tests in Python and python
// graders' grade() and source checks, behind the main Worker's SANDBOX_PYTHON binding.

import { sandboxWorker } from "../handler";
import { pythonCodeRunner, pythonGrader, pythonSandbox } from "../pyodide";

export default sandboxWorker({
  languages: ["python"],
  code: pythonCodeRunner,
  python: pythonGrader,
  heldBytes: () => pythonSandbox.heldBytes,
  stats: () => ({ python: { ...pythonSandbox.stats, heldBytes: pythonSandbox.heldBytes } }),
});
