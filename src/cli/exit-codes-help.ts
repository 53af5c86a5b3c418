/** The exit codes, as shown at the end of --help (the README has the same table). */
export const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    differences found (verify)
  2    usage error: unknown command or option, bad argument
  3    config error: the config file is malformed, or a peer is unknown
  4    database error: missing file, not SQLite, no resonance_notes table, read-only, same database twice
  5    locked: another sync of this database is running, or a writer held the database too long
  6    peer unreachable, connection lost, or the peer stopped answering (other peers still synced)
  7    remote or protocol error
  8    partial: peers failed in different ways
  9    no scheduler: crontab missing or refused (install cron/cronie, or use resonance-sync daemon)
  10   database replaced (rotation script, wipe, restore) or overwritten by a file copier: run adopt --continue or --refill
  70   internal error (a bug: please report it with --verbose output)
  130  interrupted (SIGINT/SIGTERM); committed batches are kept, the next run resumes
`;
