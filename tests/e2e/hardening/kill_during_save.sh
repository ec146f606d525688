#!/bin/bash
# kill_during_save.sh TRAINER DATA SECONDS: for SECONDS, starts TRAINER on
# one-batch epochs with --save (so it is nearly always writing a
# checkpoint), kills it at a random moment with SIGKILL, SIGINT or SIGTERM,
# and checks what is left: the checkpoint is absent or loads, SIGINT and
# SIGTERM give exit status 130 and 143 and leave no temporary file, a
# resumed run continues from it. Prints "runs N" and exits 1 on the first
# failure (tests/e2e/test_hardening.c).
set -um  # job control: background jobs get SIGINT (not ignored, as without it)
bin=$1 data=$2 seconds=$3
end=$((SECONDS + seconds))
runs=0
RANDOM=7
while [ $SECONDS -lt $end ]; do
  rm -f ck.st ck.st.tmp-*
  sig=$(( runs % 3 ))
  case $sig in 0) name=KILL want=137 ;; 1) name=INT want=130 ;; *) name=TERM want=143 ;; esac
  "$bin" --data "$data" --limit-train 100 --batch-size 100 --limit-test 10 --epochs 1000000 \
    --save ck.st --quiet 2>err.txt &
  # (bash reports "Killed" for SIGKILL on its stderr; the checks below are what counts)
  pid=$!
  sleep "0.$(printf '%02d' $(( RANDOM % 30 + 5 )))"
  kill -s $name $pid
  for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  if kill -0 $pid 2>/dev/null; then
    kill -KILL $pid; echo "SIG$name: still running 10 s later"; exit 1
  fi
  wait $pid 2>/dev/null
  st=$?
  if [ $st -ne $want ]; then echo "SIG$name: exit status $st, want $want"; cat err.txt; exit 1; fi
  if [ $name != KILL ]; then
    if ls ck.st.tmp-* >/dev/null 2>&1; then echo "SIG$name left a temporary file"; exit 1; fi
    # caught (a message), or it came before training started (default action, silent)
    grep -q "stopped by SIG$name" err.txt || ! test -s err.txt ||
      { echo "SIG$name: no message"; cat err.txt; exit 1; }
  fi
  if [ -e ck.st ]; then
    "$bin" --data "$data" --limit-test 10 --eval --load ck.st >/dev/null 2>err.txt ||
      { echo "SIG$name: the checkpoint does not load"; cat err.txt; exit 1; }
    epoch=$(grep -ao '"epoch":"[0-9]*"' ck.st | grep -o '[0-9]*')
    "$bin" --data "$data" --limit-train 100 --batch-size 100 --limit-test 10 \
      --epochs $((epoch + 1)) --resume ck.st --save ck.st --quiet 2>err.txt ||
      { echo "SIG$name: cannot resume after epoch $epoch"; cat err.txt; exit 1; }
  fi
  runs=$((runs + 1))
done
echo "runs $runs"
