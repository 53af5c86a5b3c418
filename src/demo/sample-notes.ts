/** Realistic notes for the demo: many agents, mixed timestamp shapes, a few languages. */
export interface SampleNote {
  timestamp: string;
  content: string;
  context: string;
  source: string | null;
}

/** What the main machine's agents wrote (table variant b: with a nullable source). */
export const MAIN_NOTES: SampleNote[] = [
  {
    timestamp: '2025-11-30 08:12:03',
    content: 'Leo: refactored the resonance field parser; tests green.',
    context: 'leo_development',
    source: 'leo',
  },
  {
    timestamp: '2025-11-30T08:40:11.482913',
    content: 'Consilium synthesis: three agents agree the memory should stay append-only.',
    context: 'consilium_synthesis',
    source: 'consilium',
  },
  {
    timestamp: '2025-11-30T09:02:44.120000+00:00',
    content: 'Field4 observation: resonance peaks after long silences.',
    context: 'field4_observation',
    source: 'field4',
  },
  {
    timestamp: '2025-11-30 09:15:00',
    content: 'claudecode: added a retry around the Telegram webhook.',
    context: 'claudecode_development',
    source: 'claudecode',
  },
  {
    timestamp: '2025-11-30 09:15:00',
    content: 'claudecode: same second, second note — nothing may be skipped.',
    context: 'claudecode_development',
    source: 'claudecode',
  },
  { timestamp: '2025-11-30T10:01:00', content: 'Private diary: do not send this to the phone.', context: 'diary', source: null },
  { timestamp: '2025-11-30 10:30:00', content: 'Поле 4: резонанс держится дольше ночью.', context: 'field4_observation', source: 'field4' },
  {
    timestamp: '2025-11-30 11:00:00',
    content: 'Scribe (old row, no source): the first note ever written here.',
    context: 'leo_development',
    source: null,
  },
];

/** What the phone's agents wrote (table variant a: no source column at all). */
export const SELESTA_NOTES: SampleNote[] = [
  {
    timestamp: '2025-11-30T12:05:09.000001',
    content: 'Maternal conversation: she asked whether the garden remembers us. 🌱',
    context: 'maternal_conversation',
    source: null,
  },
  {
    timestamp: '2025-11-30T12:30:00+03:00',
    content: 'Config update: sync window moved to every 2 hours.',
    context: 'config_update',
    source: null,
  },
  { timestamp: '2025-11-30 13:00:00', content: 'Phone-only scratch note: stays on the phone.', context: 'scratch', source: null },
  {
    timestamp: '2025-11-30T14:10:00',
    content: 'Материнский разговор: «память медленная и задумчивая».',
    context: 'maternal_conversation',
    source: null,
  },
];

/** The users' routes, as in their original setup. */
export const DEMO_ROUTES = {
  toSelesta: ['leo_development', 'consilium*', 'field4*', 'claudecode*'],
  fromSelesta: ['maternal*', 'config*'],
};
