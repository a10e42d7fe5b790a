"""Where a server's threads spent their time, from a py-spy profile in collapsed-stack form.

Reads what ``py-spy record -t -f raw`` writes (benchmarks/ask_throughput.py ``--py-spy DIR`` records each
server during its busiest level) and prints, per thread kind (the thread name without its id; the
AnyIO workers count as one kind), busiest first, its share of the busy samples (a sample whose leaf frame
is a wait is idle), then its top frames in the project's own code (app/, generation/, retrieval/: the
deepest such frame of each sample) and its top leaf frames.

    python -m benchmarks.research.profile_summary pyspy-batched.txt [--top 12] [--threads 3]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

# Leaf frames of a thread that waits (py-spy's own idle detection misses some of them).
IDLE = ("Condition.wait", "EpollSelector.select", "Event.wait", "Thread.join", "wait (threading.py")
OWN = re.compile(r"\((?:.*/)?(?:app|generation|retrieval)/[\w/]+\.py:\d+\)")


def frame_name(frame: str) -> str:
    """``func (path/file.py:12)`` -> ``func (file.py:12)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1]}" if where else name


def summarise(path: Path, top: int, threads: int) -> None:
    samples: Counter[str] = Counter()  # busy samples
    idle: Counter[str] = Counter()
    own: dict[str, Counter[str]] = defaultdict(Counter)
    leaf: dict[str, Counter[str]] = defaultdict(Counter)
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = re.sub(r"^thread \(0x[0-9a-fA-F]+\): |^thread \(\d+\): |^process \d+:\"[^\"]*\";?", "", frames[0])
        n = int(count)
        if frames[-1].startswith(IDLE):
            idle[thread] += n
            continue
        samples[thread] += n
        leaf[thread][frame_name(frames[-1])] += n
        mine = [f for f in frames[1:] if OWN.search(f)]
        own[thread][frame_name(mine[-1]) if mine else "(no project frame)"] += n
    total = sum(samples.values())
    print(f"{path.name}: {total} busy samples, {sum(idle.values())} idle")
    for thread, n in samples.most_common(threads):
        print(f"\n{thread}: {n} busy samples ({n / total:.0%} of all busy), {idle[thread]} idle")
        print("  deepest project frame:")
        for frame, k in own[thread].most_common(top):
            print(f"    {k / n:6.1%}  {frame}")
        print("  leaf frame:")
        for frame, k in leaf[thread].most_common(top):
            print(f"    {k / n:6.1%}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--threads", type=int, default=3, help="thread kinds to detail, busiest first")
    args = parser.parse_args()
    for path in args.profiles:
        summarise(path, args.top, args.threads)


if __name__ == "__main__":
    main()
