import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ensureDevVars } from "../../scripts/dev-vars.mjs";

const ROOT = resolve(import.meta.dirname, "../..");
const dirs: string[] = [];
function clone() {
  const dir = mkdtempSync(join(tmpdir(), "assay-devvars-"));
  dirs.push(dir);
  copyFileSync(join(ROOT, ".dev.vars.example"), join(dir, ".dev.vars.example"));
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const keyOf = (text: string) => /^ASSAY_ENCRYPTION_KEY=(\S+)$/m.exec(text)?.[1];

describe("npm run dev's local secrets", () => {
  it("creates .dev.vars in a fresh clone with the example's admin key and a random 32-byte encryption key", () => {
    const dir = clone();
    expect(ensureDevVars(dir)).toEqual([
      "created .dev.vars from .dev.vars.example (admin key: see ASSAY_ADMIN_KEY there)",
      "generated ASSAY_ENCRYPTION_KEY into .dev.vars",
    ]);
    const text = readFileSync(join(dir, ".dev.vars"), "utf8");
    expect(text).toContain("ASSAY_ADMIN_KEY=assay-dev-admin-key");
    expect(Buffer.from(keyOf(text)!, "base64").length).toBe(32);
    // A second clone gets its own key.
    const other = clone();
    ensureDevVars(other);
    expect(keyOf(readFileSync(join(other, ".dev.vars"), "utf8"))).not.toBe(keyOf(text));
  });

  it("keeps an existing key, and adds one to a .dev.vars that has none", () => {
    const dir = clone();
    ensureDevVars(dir);
    const first = readFileSync(join(dir, ".dev.vars"), "utf8");
    expect(ensureDevVars(dir)).toEqual([]);
    expect(readFileSync(join(dir, ".dev.vars"), "utf8")).toBe(first);
    writeFileSync(join(dir, ".dev.vars"), "ASSAY_ADMIN_KEY=mine");
    expect(ensureDevVars(dir)).toEqual(["generated ASSAY_ENCRYPTION_KEY into .dev.vars"]);
    const text = readFileSync(join(dir, ".dev.vars"), "utf8");
    expect(text.startsWith("ASSAY_ADMIN_KEY=mine\nASSAY_ENCRYPTION_KEY=")).toBe(true);
  });
});
