#!/bin/sh
# Copy the builder's index to replicas, in the one safe order (docs/scaling.md, "Publishing:
# generations first, `CURRENT` last"):
#
#   deploy/publish.sh INDEX DEST...
#
# INDEX is the folder `searchsvc index` writes; each DEST is a replica's index folder, local or
# `host:folder` (rsync over ssh). For each DEST: the generation folders first, CURRENT last
# (rsync writes a temporary file and renames it, so a replica switches at once), and only then
# the generations the builder has deleted. It holds the builder's write lock meanwhile, so a
# `searchsvc index` run waits for the copy to end (and the copy for the run). Each server's
# search analytics (analytics.sqlite3) are its own: never copied, never deleted. Nor is the
# builder's journal of pushed documents (journal.sqlite3): what it holds reaches the replicas as
# generations; a replica given a copy would have a journal of its own to apply.
set -eu

if [ "$#" -lt 2 ]; then
    echo "usage: $0 INDEX DEST..." >&2
    exit 2
fi
index=${1%/}
shift
if [ ! -f "$index/CURRENT" ]; then
    echo "$0: $index/CURRENT is missing: run \`searchsvc index\` first" >&2
    exit 1
fi

exec 9>>"$index/.write.lock"
flock 9

for dest in "$@"; do
    dest=${dest%/}
    rsync -aH --fsync --exclude=/CURRENT --exclude=/CURRENT.tmp --exclude=/.write.lock --exclude='/*.building' --exclude='/analytics.sqlite3*' --exclude='/journal.sqlite3*' "$index/" "$dest/"
    rsync -a --checksum --fsync "$index/CURRENT" "$dest/CURRENT"
    rsync -aH --delete --exclude=/CURRENT --exclude=/CURRENT.tmp --exclude=/.write.lock --exclude='/*.building' --exclude='/analytics.sqlite3*' --exclude='/journal.sqlite3*' "$index/" "$dest/"
    echo "published $(cat "$index/CURRENT") to $dest"
done
