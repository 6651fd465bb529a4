// json_shape: transforms a JSON document: picks fields from every record,
// renames them, filters and sorts, then groups and counts, with plain
// JavaScript in the sandbox.
//
//   taskbox run json_shape --params '{"records": [{"name": "a", "team": "x", "age": 3}],
//                                     "pick": {"name": "who", "team": "team"},
//                                     "where": {"team": "x"}, "sort": "who", "count_by": "team"}'
//   → {"records": [{"who": "a", "team": "x"}], "counts": {"x": 1}, "total": 1}

import { log } from "./taskbox.js";

export function run(ctx, params) {
  const { records, pick, where = {}, sort, count_by: countBy } = params;
  if (!Array.isArray(records)) {
    throw new TypeError("params: `records` (an array of objects) is required");
  }
  const kept = records.filter((r) => Object.entries(where).every(([k, v]) => r[k] === v));
  const shaped = kept.map((r) =>
    pick ? Object.fromEntries(Object.entries(pick).map(([from, to]) => [to, r[from] ?? null])) : r,
  );
  if (sort) {
    shaped.sort((a, b) => (a[sort] < b[sort] ? -1 : a[sort] > b[sort] ? 1 : 0));
  }
  const counts = {};
  if (countBy) {
    for (const r of shaped) {
      const key = String(r[countBy]);
      counts[key] = (counts[key] ?? 0) + 1;
    }
  }
  log.info(`kept ${kept.length} of ${records.length} records`);
  return { records: shaped, counts, total: shaped.length };
}
