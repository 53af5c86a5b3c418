/** Stylesheets the page imports are bundled by esbuild (scripts/ui-page.mjs), not by tsc. */
declare module '*.css';
