"""Checks the Spark example's result table against `infer --json` on the same images.

    python compare.py RESULT.parquet REFERENCE.jsonl BAD_FILE...

Every image in REFERENCE must have exactly one row, with the same scores bit
for bit, the same top label and probability; every BAD_FILE must have one row
with an error naming it and no label, probability or scores; there must be no other rows.
"""
import json
import sys

import numpy as np
import pyarrow.parquet as pq


def main(result_path: str, reference_path: str, bad_files: list) -> int:
    table = pq.read_table(result_path).to_pylist()
    rows = {}
    for row in table:
        name = row["file"][len("file:"):] if row["file"].startswith("file:") else row["file"]
        if name in rows:
            print(f"FAIL: {name} has two rows", file=sys.stderr)
            return 1
        rows[name] = row
    failures = []
    references = [json.loads(line) for line in open(reference_path)]
    expected = {reference["file"] for reference in references} | set(bad_files)
    if set(rows) != expected:
        failures.append(f"files differ: missing {sorted(expected - set(rows))[:3]}, extra {sorted(set(rows) - expected)[:3]}")
    for reference in references:
        row = rows.get(reference["file"])
        if row is None:
            continue
        want = np.array([float(v) for v in reference["scores"]], dtype=np.float32)
        got = np.array(row["scores"] or [], dtype=np.float32)
        if row["error"] is not None or got.shape != want.shape or not np.array_equal(got.view(np.uint32),
                                                                                   want.view(np.uint32)):
            failures.append(f"{reference['file']}: scores {got.tolist()} (error {row['error']}), "
                            f"infer says {want.tolist()}")
            continue
        top = reference["top"][0]
        if row["label"] != top["label"] or abs(row["probability"] - top["probability"]) > 1e-6:
            failures.append(f"{reference['file']}: {row['label']} {row['probability']}, infer says "
                            f"{top['label']} {top['probability']}")
    for name in bad_files:
        row = rows.get(name)
        if row is not None and (row["error"] is None or name not in row["error"] or row["scores"] is not None
                                or row["label"] is not None or row["probability"] is not None):
            failures.append(f"{name}: expected an error row, got {row}")
    for failure in failures[:10]:
        print(f"FAIL: {failure}", file=sys.stderr)
    if failures:
        return 1
    print(f"{len(references)} rows equal to infer --json bit for bit, {len(bad_files)} bad images reported as errors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
