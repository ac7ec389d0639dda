// Local secrets for `npm run dev`: .dev.vars from .dev.vars.example when missing, and a random
// ASSAY_ENCRYPTION_KEY (AES-256, base64 of 32 bytes) appended when .dev.vars has none. The key is made once
// and kept: a new one would leave the feedback-source secrets sealed under the old one unreadable.
import { randomBytes } from "node:crypto";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Prepares `root/.dev.vars`; returns what it did, for the caller to say.
 * @param {string} root
 * @returns {string[]}
 */
export function ensureDevVars(root) {
  const done = [];
  const devVars = join(root, ".dev.vars");
  if (!existsSync(devVars)) {
    copyFileSync(join(root, ".dev.vars.example"), devVars);
    done.push("created .dev.vars from .dev.vars.example (admin key: see ASSAY_ADMIN_KEY there)");
  }
  const text = readFileSync(devVars, "utf8");
  if (!/^ASSAY_ENCRYPTION_KEY=\S+/m.test(text)) {
    const sep = text === "" || text.endsWith("\n") ? "" : "\n";
    appendFileSync(devVars, `${sep}ASSAY_ENCRYPTION_KEY=${randomBytes(32).toString("base64")}\n`);
    done.push("generated ASSAY_ENCRYPTION_KEY into .dev.vars");
  }
  return done;
}
