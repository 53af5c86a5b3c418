// Loaded with `node --import` before the installed command in the bench: at exit it appends this
// process's peak RSS (KiB) to the file named by BENCH_RSS_FILE. Same process, no other effect.
import { appendFileSync } from 'node:fs';

const file = process.env.BENCH_RSS_FILE;
if (file) process.on('exit', () => appendFileSync(file, `${process.resourceUsage().maxRSS}\n`));
