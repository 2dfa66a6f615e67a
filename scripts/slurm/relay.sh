#!/usr/bin/env bash
# Per-node wrapper of train_torchrun.sbatch: runs the node launcher and passes SIGUSR1/SIGTERM on to the
# ranks. `imp launch` forwards signals itself; torchrun's agent would exit on SIGUSR1, so the signal goes
# to its direct children (the imp ranks) instead.
#
#   relay.sh <torchrun|imp> <launcher command...>
set -uo pipefail
KIND=$1
shift
"$@" &
CHILD=$!

# shellcheck disable=SC2317  # called from the traps
forward() {
  if [ "$KIND" = torchrun ]; then
    pkill "-$1" -P "$CHILD" || true   # only the children of this torchrun
  else
    kill "-$1" "$CHILD" 2>/dev/null || true
  fi
}
trap 'forward USR1' USR1
trap 'forward USR1' TERM  # srun's SIGTERM at cancellation: checkpoint too (the step is killed after KillWait)

rc=0
while true; do
  wait "$CHILD" && rc=0 || rc=$?
  kill -0 "$CHILD" 2>/dev/null || break
done
exit "$rc"
