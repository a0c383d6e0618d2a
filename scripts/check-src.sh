#!/usr/bin/env bash
# Refuses banned C functions in the project's sources (the list in
# docs/internals/STYLE-CHECKS.md). Exits non-zero and names each use.
set -uo pipefail
cd "$(dirname "$0")/.."
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|strncpy|alloca)[[:space:]]*\('
hits=$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'bench/*.c' 2>/dev/null |
  xargs -r grep -nE "$banned" | grep -vE '^\S+:[0-9]+:\s*(\*|//)')
if [ -n "$hits" ]; then
  echo "check-src: banned functions used:" >&2
  echo "$hits" >&2
  exit 1
fi
echo "check-src: no banned functions"
