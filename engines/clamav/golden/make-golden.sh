#!/bin/sh
# Regenerates the raw clamscan outputs of the golden tests (tests/unit/engines/test_read_golden.py)
# by running the real clamscan on the samples below with test.ndb (a custom signature that matches
# EICAR; no official database needed). Review the diff of the *.out files, then regenerate the
# expected findings: `.venv/bin/python -m tests.unit.engines.golden clamav` and review those too.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > eicar.com
echo "hello clean world" > clean.txt
cp eicar.com "my file ünï 文件.com"
: > empty.bin
python3 - <<'PY'
import zipfile
with zipfile.ZipFile("eicar.zip", "w", zipfile.ZIP_DEFLATED) as archive:
    archive.write("eicar.com", "docs/eicar.com")
    archive.write("clean.txt", "clean.txt")
PY
run() {  # NAME FILE [DATABASE]: clamscan's stdout (exit code ignored: 1 = found, 2 = error)
    clamscan --database="${3:-$here/test.ndb}" "$2" > "$here/$1.out" 2>/dev/null || true
}
log() {  # NAME FILE [DATABASE]: the --log=FILE form (no "OK" lines; error lines and the summary)
    rm -f scan.log
    clamscan --database="${3:-$here/test.ndb}" --log=scan.log "$2" > /dev/null 2>&1 || true
    cp scan.log "$here/$1.out"
}
mkdir empty-db
run eicar eicar.com
run clean clean.txt
run zip eicar.zip
run unicode-name "my file ünï 文件.com"
run empty empty.bin
run clean-no-signatures clean.txt "$work/empty-db"
log eicar-log eicar.com
log clean-log clean.txt
log missing-file-log missing.bin
log no-database-log clean.txt "$work/empty-db"
# The summary's dates and times change on every run: fixed here so the goldens do not churn.
sed -i -e 's/^Time: .*/Time: 0.001 sec (0 m 0 s)/' -e 's/^\(Start\|End\) Date:.*/\1 Date: 2026:01:01 00:00:00/' "$here"/*.out
