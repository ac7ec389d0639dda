// `*.guest.js` files are guest code evaluated inside the QuickJS sandbox, imported as their text (wrangler's
// `Text` rule; scripts/node-data-hooks.mjs and vitest.config.ts in Node). `wrangler types` would declare
// every `*.js` import a string (it keeps only a glob's last extension), so the declaration lives here.
declare module "*.guest.js" {
  const text: string;
  export default text;
}
