#!/usr/bin/python3
"""Independent reference for the scanner: what KSM can save across guests.

  census.py PID:START-END [PID:START-END ...]

Reads every present page of each guest's RAM mapping (tests/guest/pages.py:
pagemap first, pread on /proc/PID/mem) and prints one JSON object:
"saveable" = sum over distinct non-zero contents of (copies - 1), the pages
KSM frees once every duplicate is merged (= the scanner's
predicted_mergeable_pages), plus "present" and "zero" page counts.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guest"))
from pages import census  # noqa: E402


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    total, present, zero = {}, 0, 0
    for arg in sys.argv[1:]:
        pid, rng = arg.split(":", 1)
        info, counts = census(pid, rng)
        present += info["present"]
        zero += info["zero"]
        for h, n in counts.items():
            total[h] = total.get(h, 0) + n
    saveable = sum(n - 1 for n in total.values())
    print(json.dumps({"saveable": saveable, "present": present, "zero": zero,
                      "distinct": len(total)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
