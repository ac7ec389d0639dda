import { transform } from "sucrase";

export type Language = "javascript" | "typescript" | "python";

const FENCE = /```[ \t]*([\w#+.-]*)[^\n]*\n([\s\S]*?)```/g;

const LANGUAGE_TAGS: Record<Language, string[]> = {
  javascript: ["js", "javascript", "jsx", "mjs", "cjs", "node"],
  typescript: ["ts", "typescript", "tsx", "js", "javascript"],
  python: ["py", "python", "python3"],
};

/**
 * The code in a completion: the first fenced block tagged with the language (or untagged) when the
 * completion has fences, else the whole completion. A model that wraps its answer in prose and a
 * ```js block is graded on the block.
 */
export function extractCode(completion: string, language: Language): string {
  if (!completion.includes("```")) return completion;
  const blocks = [...completion.matchAll(FENCE)].map((m) => ({ tag: m[1]!.toLowerCase(), body: m[2]! }));
  if (blocks.length === 0) return completion;
  const tags = LANGUAGE_TAGS[language];
  const hit = blocks.find((b) => tags.includes(b.tag)) ?? blocks.find((b) => b.tag === "");
  return hit ? hit.body : completion;
}

const MODULE_SYNTAX = /^\s*(export\s|import\s*[\w{*'"])/m;

export type Prepared = { ok: true; code: string } | { ok: false; reason: string };

/**
 * Turns model-written JavaScript or TypeScript into a script QuickJS can run. TypeScript loses its types
 * (sucrase, a text transform on the host: it parses, it never runs the code). ES module syntax becomes
 * CommonJS (`export function f` → `function f` + `exports.f = f`), so a solution written as a module
 * still defines its functions globally; an `import` becomes a require() call, which the sandbox does not
 * provide, so a solution that imports fails as it would without that module.
 */
export function prepareJs(code: string, language: "javascript" | "typescript"): Prepared {
  const transforms: ("typescript" | "imports")[] = [];
  if (language === "typescript") transforms.push("typescript");
  if (MODULE_SYNTAX.test(code)) transforms.push("imports");
  if (transforms.length === 0) return { ok: true, code };
  try {
    const out = transform(code, {
      transforms,
      disableESTransforms: true,
      // Keeps `import x = require()` / enum semantics close to tsc; no JSX in model code here.
      keepUnusedImports: false,
      production: true,
    });
    return { ok: true, code: out.code };
  } catch (err) {
    const what = language === "typescript" ? "TypeScript" : "JavaScript";
    return { ok: false, reason: `${what} syntax error: ${err instanceof Error ? err.message : String(err)}` };
  }
}
