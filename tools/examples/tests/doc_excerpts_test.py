#!/usr/bin/env python3
"""doc_excerpts_test.py: the C++ excerpts in the docs are still in the files they name.

    doc_excerpts_test.py REPO_ROOT docs/tutorial.md [more .md files]

Every ```cpp block in the given Markdown files must name its source: the
nearest non-blank line above the fence holds a repository path in backticks,
e.g. "From `tools/examples/talk-accept.cpp`:" (the last such path on the line
counts). The block's lines must appear in that file in the same order, as
runs of consecutive lines; a line that is only "// ..." marks a gap between
two runs. Lines are compared with leading and trailing whitespace stripped.
Since the named files are built (and their programs tested) by CTest, an
excerpt cannot drift from code that compiles without this test failing.
Exit 0 and "PASS", or 1 and one line per excerpt that is not found.
"""
import os
import re
import sys

PATH = re.compile(r"`((?:tools|runtime|net|proxy|tests)/[^`\s]+\.(?:cpp|hpp))`")
GAP = "// ..."


def excerpts(md_text):
    """(line number, source path or None, [lines]) for each ```cpp block."""
    lines = md_text.splitlines()
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```cpp":
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            found = PATH.findall(lines[j]) if j >= 0 else []
            body, k = [], i + 1
            while k < len(lines) and lines[k].strip() != "```":
                body.append(lines[k])
                k += 1
            out.append((i + 1, found[-1] if found else None, body))
            i = k
        i += 1
    return out


def find_runs(body, source_lines):
    """None if the runs of body appear in order in source_lines, else the first missing line."""
    runs, cur = [], []
    for ln in body:
        if ln.strip() == GAP:
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append(ln.strip())
    if cur:
        runs.append(cur)
    src = [ln.strip() for ln in source_lines]
    at = 0
    for run in runs:
        hit = next((p for p in range(at, len(src) - len(run) + 1) if src[p:p + len(run)] == run), None)
        if hit is None:
            # Name the first line of the run that breaks it, for the message.
            for n in range(len(run), 0, -1):
                if any(src[p:p + n] == run[:n] for p in range(at, len(src) - n + 1)):
                    return run[n] if n < len(run) else run[0]
            return run[0]
        at = hit + len(run)
    return None


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    root, failures, count = sys.argv[1], [], 0
    for md in sys.argv[2:]:
        with open(os.path.join(root, md), encoding="utf-8") as f:
            blocks = excerpts(f.read())
        for line, source, body in blocks:
            count += 1
            where = f"{md}:{line}"
            if source is None:
                failures.append(f"{where}: a cpp block without a source path in backticks on the line above")
                continue
            try:
                with open(os.path.join(root, source), encoding="utf-8") as f:
                    source_lines = f.read().splitlines()
            except OSError as e:
                failures.append(f"{where}: {source}: {e}")
                continue
            missing = find_runs(body, source_lines)
            if missing is not None:
                failures.append(f"{where}: not in {source} (in this order): {missing!r}")
            else:
                print(f"ok   {where}: {len(body)} lines from {source}")
    for f in failures:
        print(f"FAIL {f}")
    if not count:
        print("FAIL no cpp blocks found")
        return 1
    print("PASS" if not failures else f"{len(failures)} of {count} excerpts not found")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
