"""Summarise py-spy raw (folded) profiles: where the hub's workers spend their time.

    .venv/bin/python bench/oidc/hotspots.py bench/oidc/.state/profile-hub-api-*.folded

Prints the share of samples in each function itself (self) and under it (inclusive),
and the share spent waiting on PostgreSQL and Redis.
"""

import re
import sys
from collections import Counter

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
SITE = re.compile(r".*/site-packages/")


def short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    path = SITE.sub("", match["file"]).replace("/work/main/", "")
    return f"{match['function']} ({path})"


def load(paths):
    stacks = Counter()
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if stack and count.isdigit():
                    stacks[tuple(short(frame) for frame in stack.split(";"))] += int(count)
    return stacks


def main(paths) -> None:
    stacks = load(paths)
    total = sum(stacks.values())
    own, inclusive = Counter(), Counter()
    for frames, count in stacks.items():
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    # Idle sync workers sit in select/accept: not part of serving a request.
    idle = sum(count for frames, count in stacks.items() if "handle_request" not in " ".join(frames))
    busy = total - idle
    print(f"{total} samples, {busy} serving requests ({100 * busy / max(total, 1):.0f}%)\n")

    def share(count):
        return f"{100 * count / max(busy, 1):5.1f}%"

    print("self time (top 25):")
    for frame, count in own.most_common(60)[:25]:
        print(f"  {share(count)}  {frame}")
    print("\ninclusive, project and key library frames (top 40):")
    keep = (
        "accounts/",
        "tenants/",
        "harbourmaster/",
        "oauth2_provider/",
        "oauthlib/",
        "rest_framework/",
        "django/db/models/",
        "django/core/handlers",
        "django/middleware",
        "allauth/",
        "django/contrib",
        "psycopg/",
        "redis/",
        "django/core/cache",
        "django/template",
        "django/utils/translation",
        "jsonschema",
    )
    shown = 0
    for frame, count in inclusive.most_common():
        if any(part in frame for part in keep):
            print(f"  {share(count)}  {frame}")
            shown += 1
            if shown == 40:
                break
    waits = {
        "PostgreSQL (psycopg execute/fetch/commit)": ("psycopg/cursor.py", "psycopg/connection.py"),
        "Redis (redis client)": ("redis/connection.py", "redis/client.py"),
    }
    print()
    for label, parts in waits.items():
        count = sum(c for frames, c in stacks.items() if any(p in f for f in frames for p in parts))
        print(f"  {share(count)}  under {label}")


if __name__ == "__main__":
    main(sys.argv[1:])
