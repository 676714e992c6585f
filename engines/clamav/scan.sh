#!/bin/sh
# filescan's ClamAV engine: scan one file with clamscan and write clamscan's text report to OUTPUT.
#
#   scan.sh [--db DIR]... INPUT OUTPUT
#
# Signature databases:
#   * the main database (required): the --db directories, else $CLAMAV_DB_DIRS (space-separated),
#     else /var/lib/clamav (filled by freshclam at image build: --build-arg FRESHCLAM=true) and
#     /signatures (a bind-mounted or volume-provided directory);
#   * filescan's custom signatures (EICAR and a test marker), $CLAMAV_EXTRA_DB_DIR, else the
#     signatures/ directory next to this script: loaded in addition, never instead of a main one.
# No database file in any main directory is a configuration error, not an unscannable input: the
# script says "no ClamAV signature database in ..." on stderr and exits 78 (EX_CONFIG), which the
# catalogue lists neither as ok nor as unscannable, so the job fails loudly instead of reporting
# every file as clean or "not fully inspected".
# Exit codes: clamscan's (0 nothing found, 1 something found, 2 error), or 78, or 64 (usage).
set -u
here=$(cd "$(dirname "$0")" && pwd)
dirs=""
while [ $# -gt 2 ]; do
  case "$1" in
    --db) dirs="$dirs $2"; shift 2 ;;
    *) echo "usage: scan.sh [--db DIR]... INPUT OUTPUT" >&2; exit 64 ;;
  esac
done
[ $# -eq 2 ] || { echo "usage: scan.sh [--db DIR]... INPUT OUTPUT" >&2; exit 64; }
input=$1
output=$2
[ -n "$dirs" ] || dirs=${CLAMAV_DB_DIRS:-/var/lib/clamav /signatures}

has_database() {
  for file in "$1"/*.cvd "$1"/*.cld "$1"/*.cud "$1"/*.ndb "$1"/*.hdb "$1"/*.hsb "$1"/*.mdb \
              "$1"/*.msb "$1"/*.ldb "$1"/*.yar "$1"/*.yara; do
    [ -f "$file" ] && return 0
  done
  return 1
}

set --
loaded=" "
for dir in $dirs; do
  if has_database "$dir"; then
    dir=$(cd "$dir" && pwd)
    set -- "$@" "--database=$dir"
    loaded="$loaded$dir "
  fi
done
if [ $# -eq 0 ]; then
  echo "no ClamAV signature database in" $dirs "(run freshclam at build: --build-arg FRESHCLAM=true," \
       "or mount a database directory at /signatures)" >&2
  exit 78
fi
extra=${CLAMAV_EXTRA_DB_DIR:-$here/signatures}
if has_database "$extra"; then
  extra=$(cd "$extra" && pwd)
  case "$loaded" in
    *" $extra "*) ;;
    *) set -- "$@" "--database=$extra" ;;
  esac
fi
mkdir -p "$(dirname "$output")"
exec clamscan --stdout --tempdir="${TMPDIR:-/tmp}" "$@" -- "$input" > "$output"
