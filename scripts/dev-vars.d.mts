// Types for scripts/dev-vars.mjs, so tests can call it.
/** Prepares `root/.dev.vars` (from .dev.vars.example, plus a generated ASSAY_ENCRYPTION_KEY); returns what it did. */
export declare function ensureDevVars(root: string): string[];
