// Small statistics helpers for the benchmark runner: medians, quantiles and spread.

/** Sorted copy of numeric samples. */
export function sorted(samples) {
  return Float64Array.from(samples).sort();
}

/** Nearest-rank quantile (q in [0,1]) of samples. */
export function quantile(samples, q) {
  const s = samples instanceof Float64Array ? samples : sorted(samples);
  if (s.length === 0) {
    return Number.NaN;
  }
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[rank];
}

/** Median, min, max and the relative spread ((max-min)/median) of repeated measurements. */
export function summary(samples) {
  const s = sorted(samples);
  const median = quantile(s, 0.5);
  const min = s[0] ?? Number.NaN;
  const max = s[s.length - 1] ?? Number.NaN;
  return { median, min, max, n: s.length, spreadPct: median === 0 ? 0 : ((max - min) / median) * 100 };
}

/** Rounds to `digits` significant-ish decimals for printing and JSON. */
export function round(x, digits = 3) {
  if (!Number.isFinite(x)) {
    return x;
  }
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
