/**
 * What `resonance-sync ui` loads when it runs, as one module: in the single-file build this is a file of
 * its own (dist/resonance-sync-ui.mjs, with hono and the page), so that no other command, and not the
 * agent a phone runs, pays for loading it.
 */
export { gatherSnapshot } from './snapshot.js';
export { startUiServer } from './server.js';
