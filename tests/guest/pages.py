#!/usr/bin/python3
"""Host-side census of guest RAM content, for lab tests.

  pages.py census PID START-END
      Prints one JSON object for one guest: present pages, zero-filled pages,
      distinct non-zero contents and "max_copies", the largest number of
      pages that share one non-zero content.
  pages.py common PID_A START-END PID_B START-END
      Reads the present pages of two guests' RAM mappings and prints one JSON
      object: present and zero-filled page counts per guest, the number of
      distinct non-zero page contents per guest, and "common_pages": how many
      non-zero pages of guest A have a content that also occurs in guest B.

Only present pages are read (pagemap bit 63), with pread() on /proc/PID/mem:
absent pages are never touched (reading them would map them) and nothing is
pinned, so pages KSM has merged stay merged. Needs root.
"""
import hashlib
import json
import os
import struct
import sys

PAGE = 4096
ZERO = bytes(PAGE)


def census(pid, rng):
    start, end = (int(x, 16) for x in rng.split("-"))
    npages = (end - start) // PAGE
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        raw = f.read(npages * 8)
    present = [i for i, (e,) in enumerate(struct.iter_unpack("<Q", raw)) if e >> 63 & 1]
    counts, zero = {}, 0
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        i = 0
        while i < len(present):
            j = i  # extend a run of consecutive present pages, at most 1 MiB
            while j + 1 < len(present) and present[j + 1] == present[j] + 1 and j - i < 255:
                j += 1
            buf = os.pread(fd, (j - i + 1) * PAGE, start + present[i] * PAGE)
            for k in range(0, len(buf), PAGE):
                page = buf[k:k + PAGE]
                if page == ZERO:
                    zero += 1
                    continue
                h = hashlib.blake2b(page, digest_size=16).digest()
                counts[h] = counts.get(h, 0) + 1
            i = j + 1
    finally:
        os.close(fd)
    return {"present": len(present), "zero": zero, "distinct": len(counts)}, counts


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "census":
        a, ca = census(sys.argv[2], sys.argv[3])
        a["max_copies"] = max(ca.values(), default=0)
        print(json.dumps(a))
        return 0
    if len(sys.argv) != 6 or sys.argv[1] != "common":
        print(__doc__, file=sys.stderr)
        return 2
    a, ca = census(sys.argv[2], sys.argv[3])
    b, cb = census(sys.argv[4], sys.argv[5])
    common = sum(n for h, n in ca.items() if h in cb)
    print(json.dumps({"a": a, "b": b, "common_pages": common}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
