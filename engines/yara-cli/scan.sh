#!/bin/sh
# filescan's yara-cli engine: match one file against a YARA rules file with the `yara` CLI and write
# its text output to OUTPUT: per matching rule a "RULE [meta] PATH" line, then one
# "0xOFFSET:$string: DATA" line per string match (yara -m -s); nothing at all when no rule matched.
#
#   scan.sh [--rules FILE] INPUT OUTPUT
#
# The rules default to rules.yar next to this script (/opt/engine/rules.yar in the image).
# Exit codes: yara's (0 scanned, whatever matched; non-zero: an error), or 64 (usage).
set -u
here=$(cd "$(dirname "$0")" && pwd)
rules=$here/rules.yar
if [ "${1:-}" = "--rules" ] && [ $# -eq 4 ]; then rules=$2; shift 2; fi
[ $# -eq 2 ] || { echo "usage: scan.sh [--rules FILE] INPUT OUTPUT" >&2; exit 64; }
mkdir -p "$(dirname "$2")"
exec yara --print-meta --print-strings --no-warnings "$rules" "$1" > "$2"
