#!/usr/bin/env bash
# Runs a command and prints, after it ends, its peak heap (RssAnon) and the peak of file
# pages it had mapped (RssFile: SQLite readers map the registry file, pages of the
# operating system's file cache that every process shares), sampled every 0.1 s with
# shell builtins only (one process at the start), so the sampling adds next to nothing to
# what GNU time measures.
# Usage: scripts/peak-memory.sh COMMAND [ARGS...]   (exit status: the command's)
set -uo pipefail
"$@" &
pid=$!
# A pipe nothing ever writes to: `read -t` on it is a sleep without a process per call.
exec {never}<> <(:)
anon=0; file=0
while kill -0 "$pid" 2>/dev/null; do
  while read -r key value _; do
    case "$key" in
      RssAnon:) (( value > anon )) && anon=$value ;;
      RssFile:) (( value > file )) && file=$value ;;
    esac
  done < "/proc/$pid/status" 2>/dev/null
  read -r -t 0.1 -u "$never" _ || true
done
wait "$pid"; status=$?
echo "peak heap (RssAnon) $((anon / 1024)) MiB, mapped file pages (RssFile) $((file / 1024)) MiB" >&2
exit "$status"
