/**
 * "did you mean": the known names closest to a mistyped one, by edit distance (insertions,
 * deletions, substitutions and swaps of neighbours each cost one), so `sync selsta` can answer
 * `did you mean selesta?` instead of taking the typo for something else.
 */

/** Optimal string alignment distance: Levenshtein plus the swap of two neighbouring characters. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The known names within a small distance of `typed` (a third of its length, at least 1, and none
 * for names under three characters; case ignored), nearest first. Empty when nothing is close: a suggestion far off misleads more than none.
 */
export function closestNames(typed: string, known: readonly string[]): string[] {
  const limit = typed.length < 3 ? 0 : Math.max(1, Math.floor(typed.length / 3));
  return known
    .map((name) => ({ name, distance: editDistance(typed.toLowerCase(), name.toLowerCase()) }))
    .filter((candidate) => candidate.distance <= limit)
    .sort((x, y) => x.distance - y.distance || x.name.localeCompare(y.name))
    .map((candidate) => candidate.name);
}
