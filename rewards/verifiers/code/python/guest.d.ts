/** A guest program imported as its text (wrangler's `Text` rule; in Node, the data hooks and vitest plugin). */
declare module "*.guest.py" {
  const source: string;
  export default source;
}
